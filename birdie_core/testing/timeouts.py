"""A guard that makes a stuck test fail with a message instead of hanging the whole suite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class TimeLimitExceeded(Exception):
    """A block guarded by :func:`time_limit` ran past its limit."""


@contextmanager
def time_limit(seconds: float, what: str = "the block") -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` when the block runs longer than ``seconds``.

    SIGALRM interrupts whatever the block waits on (a queue, a join, a pipe), so a hang becomes a failure
    naming ``what``. Main thread only, and one guard at a time: an inner guard would cancel the outer one.
    """

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"{what} ran past its {seconds:g} s limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
