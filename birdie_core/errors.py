"""Error types a user can act on.

Every error Birdie raises on purpose derives from :class:`BirdieError`, so a caller can catch them all and
the CLI can print them without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class BirdieError(Exception):
    """Base class of every error Birdie raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration: where it is and what is wrong."""

    path: str  # dotted path into the config, e.g. "objectives[2].corruption_rate"
    message: str
    line: int | None = None  # 1-based, when the config came from YAML
    column: int | None = None
    source: str | None = None  # file name

    def render(self) -> str:
        where = self.path or "<root>"
        if self.line is not None:
            loc = f"{self.source or '<yaml>'}:{self.line}:{self.column or 1}"
            return f"{loc}: {where}: {self.message}"
        if self.source:
            return f"{self.source}: {where}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(BirdieError):
    """A configuration is invalid. Carries every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str):
        if isinstance(issues, str):
            issues = [ConfigIssue(path="", message=issues)]
        elif isinstance(issues, ConfigIssue):
            issues = [issues]
        self.issues: list[ConfigIssue] = list(issues)
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in the configuration:"
        super().__init__("\n".join([head] + ["  - " + i.render() for i in self.issues]))


class PluginError(BirdieError):
    """A plugin could not be loaded, conflicts with another one, or is missing."""


class PipelineError(BirdieError):
    """The data pipeline cannot go on (no documents, a worker died, a component failed)."""


class NoUsableDocumentsError(PipelineError):
    """A whole pass over a split gave no document an objective could make an example from.

    Fatal for training; for validation batches the curriculum catches it and goes on without that objective's
    validation loss (see :meth:`birdie_core.Birdie.measure_validation_losses`).
    """


class InvalidLossError(PipelineError, ValueError):
    """A loss or reward vector a curriculum cannot use (NaN, infinite, negative, wrong length or shape, empty).

    What every reward function and agent raises for such input, first-party or third-party, with a message
    naming what was wrong; also a :class:`ValueError`, so code that catches that keeps working.
    """


class TrainError(BirdieError):
    """The reference trainer (`birdie train`) cannot start or go on."""


class RunDirectoryError(TrainError):
    """A run directory is missing, already taken, or not a Birdie run."""


class CheckpointError(TrainError):
    """A checkpoint is missing, incomplete or unreadable."""
