"""Fixtures of the scale test (`make scale-test`, marker ``scale``, deselected by
default): the stack of tests/scale/stack.py, started once for the session and
stopped by PID at the end, whatever happens. The session is bounded by
RUN_TIMEOUT: a Stop (that, or a signal) ends it. SCALE_KEEP=1 keeps the work
folder (logs, generated nginx config).
"""

import signal
import time

import pytest

from scripts.harness import Processes, Stop, log, stop_on_signals, work_folder

from .stack import Stack

RUN_TIMEOUT = 300


@pytest.fixture(scope="session")
def stack(request):
    """The whole stack, started once; stopped by PID at the end, or at a Stop
    (a signal, or RUN_TIMEOUT after the start)."""
    started = time.monotonic()
    stop_on_signals()
    signal.alarm(RUN_TIMEOUT)
    with work_folder("myapp-scale.", "SCALE_KEEP") as work:
        log(f"scale: work folder {work}")
        running = Stack(work, Processes())
        try:
            running.start()
            yield running
        finally:
            signal.alarm(0)
            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(number, signal.SIG_IGN)
            running.stop()
            if request.session.testsfailed:
                running.print_logs()
    log(f"scale: the stack ran {time.monotonic() - started:.0f} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A Stop (signal or time limit) ends the session, not only its test."""
    outcome = yield
    if call.excinfo is not None and call.excinfo.errisinstance(Stop):
        item.session.shouldstop = f"scale test: {call.excinfo.value}"
    return outcome
