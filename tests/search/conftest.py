"""Fixtures for the search contract: every test runs against both backends.

Elasticsearch: ELASTICSEARCH_URL when set, else the local stand-in server (PyPI noida-db)
started once per session. When neither is available the Elasticsearch cases skip, or fail
when RADAR_REQUIRE_ELASTICSEARCH=1 (as CI sets it).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from core.store import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen) -> None:
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


def _noida_binary() -> str | None:
    beside = Path(sys.executable).with_name("noida-db")
    return shutil.which("noida-db") or (str(beside) if beside.exists() else None)


def _unavailable(reason: str):
    if os.environ.get("RADAR_REQUIRE_ELASTICSEARCH") == "1":
        pytest.fail(f"Elasticsearch is required here but unavailable: {reason}")
    pytest.skip(f"Elasticsearch unavailable: {reason}")


@pytest.fixture(scope="session")
def elasticsearch_url(tmp_path_factory):
    """The URL of a cluster for the whole session (started here when none is given)."""
    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"]
        return
    binary = _noida_binary()
    if binary is None:
        _unavailable("ELASTICSEARCH_URL is not set and the noida-db stand-in is not installed")
    port = _free_port()
    data = tmp_path_factory.mktemp("noida")
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen([binary, "start", "--data-dir", str(data), "--only", "elasticsearch",
                             "--elasticsearch-port", str(port), "--host", "127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url + "/"):
            if proc.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"the noida-db stand-in did not answer on {url}; see {data / 'server.log'}")
            time.sleep(0.2)
        yield url
    finally:
        # The console script runs the server binary as a child: stop the whole process group
        # (its own session), or the server outlives the session as an orphan.
        _stop_group(proc)
        log.close()


@pytest.fixture
def search_store(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    yield store
    store.close()


@pytest.fixture(params=["embedded", "elasticsearch"])
def search_backend(request, search_store):
    """A fresh, empty search index of each kind over a fresh SQLite store."""
    if request.param == "embedded":
        from core.search.embedded import EmbeddedSearch
        index = EmbeddedSearch(search_store, dims=4)
        yield index
        index.close()
        return
    from core.search.elastic import ElasticSearch
    url = request.getfixturevalue("elasticsearch_url")
    # A prefix of its own per test: a real cluster is never polluted and tests never see
    # each other's documents.
    index = ElasticSearch(url, store=search_store, prefix=f"t{uuid.uuid4().hex[:10]}", dims=4, backoff=0.01)
    index.reset()
    yield index
    for name in index._post_indices() + [index.leads_index]:
        index.es.indices.delete(index=name)
    index.es.indices.delete_index_template(name=index.posts_alias)
    index.close()
