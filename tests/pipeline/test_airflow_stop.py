"""`radar airflow`'s shutdown: a child that ignores SIGINT is stopped by SIGTERM, not reported
as killed; only a child that ignores both is SIGKILLed and reported."""
import signal
import subprocess
import sys
import time

from pipeline.commands.airflow import leftovers, stop

# The leader exits on SIGINT; its child (same process group) ignores SIGINT and, when asked,
# SIGTERM too, as a task runner orphaned mid-shutdown may.
LEADER = """
import signal, subprocess, sys, time
# a background job starts with SIGINT ignored (as CI may start us); radar airflow resets it too
signal.signal(signal.SIGINT, signal.default_int_handler)
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
try:
    while True:
        time.sleep(0.1)
except KeyboardInterrupt:
    sys.exit(0)
"""
CHILD = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
{extra}
while True:
    time.sleep(0.1)
"""


def _start(ignore_term: bool) -> tuple[subprocess.Popen, int]:
    extra = "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if ignore_term else ""
    proc = subprocess.Popen([sys.executable, "-c", LEADER, CHILD.format(extra=extra)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(proc.stdout.readline())
    time.sleep(0.5)  # let the child install its handlers
    return proc, child


def test_a_child_ignoring_sigint_is_stopped_by_sigterm_and_not_reported():
    proc, child = _start(ignore_term=False)
    # grace: long enough for the leader to exit on SIGINT on a loaded machine
    assert stop(proc, grace=10.0, term_grace=10.0) == []
    assert proc.returncode == 0
    assert leftovers(proc.pid, {child}) == []


def test_a_child_ignoring_sigterm_too_is_killed_and_reported():
    proc, child = _start(ignore_term=True)
    assert stop(proc, grace=1.0, term_grace=1.0) == [child]
    assert leftovers(proc.pid, {child}) == []
