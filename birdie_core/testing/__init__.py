"""Testing aids for Birdie and its plugins: conformance suites, the batch contract, documents, guards, venvs.

Every objective, packer and agent — first-party or third-party — should pass the same contract: subclass
:class:`ObjectiveConformance`, :class:`PackerConformance` or :class:`AgentConformance` in a pytest module
(see :mod:`birdie_core.testing.conformance`). Beside the suites, what a plugin's own tests keep needing:

- :func:`assert_batch_contract` and :func:`batch_segments`, to check and take apart any packed batch;
- :data:`CORPUS` (the embedded corpus, offline), :data:`SAMPLE_DOCUMENTS` and :class:`InMemorySource`;
- :func:`time_limit`, which makes a stuck test fail instead of hanging the suite;
- :func:`config_issues`, what a YAML config is refused for, by path;
- :class:`Venv` with :func:`build_wheels`, to install wheels for real into a throw-away environment.

Needs ``pytest`` and ``hypothesis`` (the ``test`` extra of birdie-core).
"""

from birdie_core.testing.batches import assert_batch_contract, batch_segments
from birdie_core.testing.configs import config_issues
from birdie_core.testing.conformance import AgentConformance, ObjectiveConformance, PackerConformance
from birdie_core.testing.documents import CORPUS, SAMPLE_DOCUMENTS, InMemorySource
from birdie_core.testing.timeouts import TimeLimitExceeded, time_limit
from birdie_core.testing.venv import Venv, build_wheels, dependency_cache, requirements_of

__all__ = [
    "CORPUS",
    "SAMPLE_DOCUMENTS",
    "AgentConformance",
    "InMemorySource",
    "ObjectiveConformance",
    "PackerConformance",
    "TimeLimitExceeded",
    "Venv",
    "assert_batch_contract",
    "batch_segments",
    "build_wheels",
    "config_issues",
    "dependency_cache",
    "requirements_of",
    "time_limit",
]
