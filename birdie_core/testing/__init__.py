"""Testing aids for Birdie and its plugins: conformance suites, the batch contract, documents, guards, venvs.

Every objective, packer, agent, reward function, tokenizer and source — first-party or third-party — should
pass the same contract: subclass :class:`ObjectiveConformance`, :class:`PackerConformance`,
:class:`AgentConformance`, :class:`RewardFnConformance`, :class:`TokenizerConformance` or
:class:`SourceConformance` in a pytest module. Beside the suites, what a plugin's own tests keep needing:

- :func:`assert_batch_contract` and :func:`batch_segments`, to check and take apart any packed batch;
- :data:`CORPUS` (the embedded corpus, offline), :data:`SAMPLE_DOCUMENTS` and :class:`InMemorySource`;
- :func:`time_limit`, which makes a stuck test fail instead of hanging the suite;
- :func:`config_issues`, what a YAML config is refused for, by path;
- :class:`Venv` with :func:`build_wheels`, to install wheels for real into a throw-away environment.

The conformance suites need ``pytest`` and ``hypothesis``: ``pip install 'birdie-core[testing]'``. Without
them this package still imports, and so do the aids that need neither (documents, the batch contract, guards,
venvs); naming a suite raises one :class:`ModuleNotFoundError` that says what to install.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from birdie_core.testing.batches import assert_batch_contract, batch_segments
from birdie_core.testing.configs import config_issues
from birdie_core.testing.documents import CORPUS, SAMPLE_DOCUMENTS, InMemorySource
from birdie_core.testing.timeouts import TimeLimitExceeded, time_limit
from birdie_core.testing.venv import Venv, build_wheels, dependency_cache, requirements_of

if TYPE_CHECKING:
    from birdie_core.testing.conformance import AgentConformance, ObjectiveConformance, PackerConformance
    from birdie_core.testing.reward_conformance import RewardFnConformance
    from birdie_core.testing.source_conformance import SourceConformance
    from birdie_core.testing.tokenizer_conformance import TokenizerConformance

#: the suites, imported when first named (they need pytest and hypothesis)
_SUITES = {
    "AgentConformance": "birdie_core.testing.conformance",
    "ObjectiveConformance": "birdie_core.testing.conformance",
    "PackerConformance": "birdie_core.testing.conformance",
    "RewardFnConformance": "birdie_core.testing.reward_conformance",
    "SourceConformance": "birdie_core.testing.source_conformance",
    "TokenizerConformance": "birdie_core.testing.tokenizer_conformance",
}


def __getattr__(name: str) -> Any:
    if name in _SUITES:
        return getattr(import_module(_SUITES[name]), name)
    raise AttributeError(f"module 'birdie_core.testing' has no attribute {name!r}")


__all__ = [
    "CORPUS",
    "SAMPLE_DOCUMENTS",
    "AgentConformance",
    "InMemorySource",
    "ObjectiveConformance",
    "PackerConformance",
    "RewardFnConformance",
    "SourceConformance",
    "TimeLimitExceeded",
    "TokenizerConformance",
    "Venv",
    "assert_batch_contract",
    "batch_segments",
    "build_wheels",
    "config_issues",
    "dependency_cache",
    "requirements_of",
    "time_limit",
]
