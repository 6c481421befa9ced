"""Fixtures for every core test: the repository root, and a time limit for tests that could hang."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from birdie_core import testing
from tests.support import ROOT

#: generous for any one test of the suite on a 2-core CPU; a test past it is stuck, not slow
TIME_LIMIT_S = 60

# A shell without job control starts a background command (`make test &` in a script) with Ctrl-C ignored, and
# every process the tests start would inherit that: the tests that send Ctrl-C to a run would then wait for a
# process that never hears it. A terminal's foreground job has the default disposition; give the tests that.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def time_limit(request):
    """Fail (never hang) a test that runs past TIME_LIMIT_S: ``pytest.mark.usefixtures("time_limit")``."""
    with testing.time_limit(TIME_LIMIT_S, request.node.name):
        yield
