"""A small progress display for long commands: a redrawn bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Documents and tokens done, their rate and, when the total is known, a bar and the time left.

    On a terminal one line is redrawn at most ``redraw`` times a second (coloured unless ``NO_COLOR`` is set);
    elsewhere (a log file, a pipe) a plain line is written every ``interval`` seconds and for every
    :meth:`note`, so logs stay readable. :meth:`close` writes the final line.
    """

    WIDTH = 28

    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        interval: float = 10.0,
        redraw: float = 10.0,
    ):
        self.what = what
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty()) if interactive is None else interactive
        self.color = self.interactive and not os.environ.get("NO_COLOR")
        self.interval = interval if not self.interactive else 1.0 / redraw
        self.documents = 0
        self.tokens = 0
        self._start = time.monotonic()
        self._last = self._start
        self._drawn = False

    def update(self, documents: int, tokens: int) -> None:
        """Add ``documents`` and ``tokens`` to the counts; redraw or write a line when it is time."""
        self.documents += documents
        self.tokens += tokens
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._show(now)

    def note(self, message: str) -> None:
        """A line of its own (a shard written), above the bar on a terminal."""
        if self.interactive and self._drawn:
            self.stream.write("\r\x1b[2K")
        self.stream.write(f"{self.what}: {message}\n")
        self._drawn = False
        if self.interactive:
            self._show(time.monotonic())
        self.stream.flush()

    def close(self) -> None:
        """The final state, on a line of its own."""
        self._show(time.monotonic(), final=True)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        parts = [f"{self.documents:,} documents"]
        if self.total:
            parts[0] = f"{self.documents:,}/{self.total:,} documents"
        parts += [
            f"{_count(self.tokens)} tokens",
            f"{_count(self.tokens / elapsed)} tokens/s",
            _clock(elapsed),
        ]
        if self.total and 0 < self.documents < self.total:
            left = elapsed * (self.total - self.documents) / self.documents
            parts.append(f"~{_clock(left)} left")
        return " · ".join(parts)

    def _bar(self) -> str:
        if not self.total:
            return ""
        share = min(1.0, self.documents / self.total)
        filled = round(share * self.WIDTH)
        bar = "█" * filled + "·" * (self.WIDTH - filled)
        if self.color:
            bar = f"\x1b[32m{bar}\x1b[0m"
        return f"{bar} {share:4.0%} "

    def _show(self, now: float, final: bool = False) -> None:
        line = self._line(now)
        if self.interactive:
            self.stream.write(f"\r\x1b[2K{self.what}: {self._bar()}{line}" + ("\n" if final else ""))
            self._drawn = not final
        else:
            self.stream.write(f"{self.what}: {line}\n")
        self.stream.flush()
