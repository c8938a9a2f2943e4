"""The local stand-in for an Elasticsearch cluster (PyPI noida-db, answers as 8.15): started by
the search tests and by benchmarks.search_scale when no ELASTICSEARCH_URL is given."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group of `proc`, wait, SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; make sure no child of it is left in the group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def noida_binary() -> str | None:
    beside = Path(sys.executable).with_name("noida-db")
    return shutil.which("noida-db") or (str(beside) if beside.exists() else None)


class StandInFailed(RuntimeError):
    pass


def start_stand_in(data: Path, timeout: float = 30) -> tuple[str, subprocess.Popen]:
    """(url, process) of a fresh stand-in server on a free port, its data and log in `data`.
    Stop it with `stop_group(process)`: the console script runs the server as a child."""
    binary = noida_binary()
    if binary is None:
        raise StandInFailed("the noida-db stand-in is not installed")
    port = free_port()
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen([binary, "start", "--data-dir", str(data), "--only", "elasticsearch",
                             "--elasticsearch-port", str(port), "--host", "127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not answers(url + "/"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc)
            raise StandInFailed(f"the noida-db stand-in did not answer on {url}; see {data / 'server.log'}")
        time.sleep(0.2)
    return url, proc
