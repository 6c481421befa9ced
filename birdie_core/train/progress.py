"""What `birdie train` prints while it trains: a progress bar in a terminal, plain lines in a log.

``--progress`` (or ``BIRDIE_PROGRESS``) chooses: ``bar`` (tqdm, on the main process), ``lines`` (a line every
``train.log_every`` steps, readable in CI logs), ``none`` (no per-step output), or ``auto``: a bar when stdout is
a terminal, lines otherwise. Evaluations print one compact line either way; ``metrics.jsonl`` keeps everything.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from birdie_core.curriculum.metrics import measured_mean
from birdie_core.train.plots import MAX_SERIES, series_of

__all__ = ["PROGRESS_MODES", "Progress", "ProgressMode", "describe_evaluation", "progress_mode"]

ProgressMode = Literal["auto", "bar", "lines", "none"]
PROGRESS_MODES: tuple[str, ...] = ("auto", "bar", "lines", "none")
#: shares an evaluation line shows (the rest are summed into "N more")
TOP_SHARES = 5
#: an objective key longer than this is cut in an evaluation line (metrics.jsonl has it whole)
_NAME_WIDTH = 24


def progress_mode(mode: str) -> Literal["bar", "lines", "none"]:
    """``mode`` with ``auto`` decided: a bar when stdout is a terminal."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"progress must be one of {', '.join(PROGRESS_MODES)}, not {mode!r}")
    if mode == "auto":
        return "bar" if _isatty() else "lines"
    return mode  # type: ignore[return-value]


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


class Progress:
    """Per-step progress on the main process (``main``), and the ``train.jsonl`` record of every step.

    Everything else the loop prints goes through :meth:`say`, which clears the bar, prints and redraws it.
    """

    def __init__(
        self,
        echo: Callable[[str], None],
        mode: str,
        every: int,
        stop: int,
        start: int,
        main: bool = True,
    ):
        self.echo = echo if main else (lambda _: None)
        self.mode = progress_mode(mode)
        self.every, self.stop, self.start = every, stop, start
        self.started = self.last = self.previous = time.perf_counter()
        self.tokens_since = 0
        self.losses: list[float] = []
        self.bar: Any = None
        if self.mode == "bar" and main and start < stop:
            from accelerate.utils import tqdm

            self.bar = tqdm(
                total=stop,
                initial=start,
                unit="step",
                dynamic_ncols=True,
                file=sys.stdout,
                main_process_only=True,
                leave=True,
            )

    def say(self, text: str) -> None:
        if self.bar is None:
            self.echo(text)
            return
        with self.bar.external_write_mode(file=sys.stdout):
            self.echo(text)

    def update(
        self, step: int, loss: float, tokens: int, lr: float, mixture: Mapping[str, float]
    ) -> dict[str, Any]:
        """Count step ``step`` (0-based); its ``train.jsonl`` record, with ``tokens_per_s`` on the steps that
        report (every ``every`` steps, the first and the last)."""
        now = time.perf_counter()
        self.step_rate = tokens / max(now - self.previous, 1e-9)  # this step alone, for trackers
        self.previous = now
        self.tokens_since += tokens
        self.losses.append(loss)
        record: dict[str, Any] = {
            "step": step,
            "loss": loss,
            "lr": lr,
            "tokens": tokens,
            "time": round(now - self.started, 3),
        }
        done = step + 1
        if self.bar is not None:
            self.bar.update(1)
        if done % self.every == 0 or done == self.stop or done == self.start + 1:
            rate = self.tokens_since / max(now - self.last, 1e-9)
            mean = sum(self.losses) / len(self.losses)
            if self.bar is not None:
                self.bar.set_postfix_str(
                    f"loss {mean:.3f}, lr {lr:.1e}, {rate / 1000:.1f}k tok/s", refresh=False
                )
            elif self.mode == "lines":
                eta = (now - self.started) / (done - self.start) * (self.stop - done)
                top = sorted(mixture.items(), key=lambda kv: -kv[1])[:3]
                self.echo(
                    f"step {done:>{len(str(self.stop))}}/{self.stop}  loss {mean:6.3f}  lr {lr:.2e}  "
                    f"{rate / 1000:6.1f}k tok/s  eta {_clock(eta)}  top: "
                    + ", ".join(f"{_short(k)} {p:.0%}" for k, p in top)
                )
            record["tokens_per_s"] = round(rate, 1)
            self.last, self.tokens_since, self.losses = now, 0, []
        return record

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def timed(say: Callable[[str], None], what: str) -> Iterator[None]:
    """``what…`` then ``done in X s``: a start-up phase that takes seconds, so that a run is never silent."""
    started = time.perf_counter()
    yield
    say(f"{what}… done in {time.perf_counter() - started:.1f} s")


def describe_evaluation(record: Mapping[str, Any], classes: Mapping[str, str] | None = None) -> str:
    """One line: the mean validation loss and the largest shares of the next mixture; past
    :data:`~birdie_core.train.plots.MAX_SERIES` objective configurations, shares summed by objective class
    (the grouping of the plots). The losses of every objective are in ``metrics.jsonl``."""
    losses = record["losses"]
    mixture = record["mixture"]
    mean = measured_mean(losses)
    series = series_of([record], classes)
    shares: dict[str, float] = {}
    for key, p in mixture.items():
        shares[series.get(key, key)] = shares.get(series.get(key, key), 0.0) + float(p)
    top = sorted(shares.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{_short(k)} {p:.0%}" for k, p in top[:TOP_SHARES])
    if len(top) > TOP_SHARES:
        shown += f", {len(top) - TOP_SHARES} more {sum(p for _, p in top[TOP_SHARES:]):.0%}"
    grouped = " by class" if len(mixture) > MAX_SERIES else ""
    n = sum(1 for v in losses.values() if v is not None and math.isfinite(v))
    unmeasured = f", {len(losses) - n} without validation examples" if n < len(losses) else ""
    return (
        f"eval  step {record['step']}: validation loss {mean:.3f} (mean of {n}{unmeasured}); next mixture{grouped}"
        + (" (exploring)" if record.get("explored") else "")
        + f": {shown}"
    )


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "…"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
