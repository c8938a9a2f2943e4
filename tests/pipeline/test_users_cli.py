"""`radar users ...` in process (typer's CliRunner) over a store in a temporary RADAR_HOME:
each refusal is one line on stderr and exit 1; a token the CLI prints opens the API."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core.settings import Settings
from core.store import Store
from pipeline.cli import app

runner = CliRunner()


@pytest.fixture
def radar(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RADAR_CONFIG_DIR", raising=False)

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, ["users", *args], input=input)
    return run


def _refused(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert result.stdout == ""


def _store() -> Store:
    return Store.open(Settings().db_url)


def test_add_list_disable_enable(radar):
    made = radar("add", "ana", "--role", "analyst", "--district", "南山区", "--district", "福田",
                 "--display-name", "安娜")
    assert made.exit_code == 0, made.output
    ana = json.loads(made.stdout)
    assert ana["role"] == "analyst" and ana["districts"] == ["南山区", "福田区"]  # an alias names its district
    assert ana["display_name"] == "安娜" and len(ana["password"]) >= 10 and "once" in made.stderr
    store = _store()
    try:
        assert store.users.authenticate("ana", ana["password"], max_failures=5, lockout=timedelta(minutes=5)) is not None
    finally:
        store.close()

    machine = radar("add", "crm", "--role", "integration")
    assert machine.exit_code == 0 and "password" not in json.loads(machine.stdout)
    assert "radar users token crm" in machine.stderr

    listed = radar("list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["username"] for r in rows] == ["ana", "crm"]
    assert not any("hash" in key or key == "password" for r in rows for key in r)
    assert ana["password"] not in listed.stdout and "argon2" not in listed.stdout
    table = radar("list")
    assert table.exit_code == 0 and "ana" in table.stdout and "argon2" not in table.stdout

    assert json.loads(radar("disable", "ana").stdout)["disabled"] is True
    assert json.loads(radar("enable", "ana").stdout)["disabled"] is False


def test_password_from_stdin_and_reset(radar):
    made = radar("add", "sue", "--role", "supervisor", "--password-stdin", input="pw-cloud-gate-3\n")
    assert made.exit_code == 0, made.output
    assert "password" not in json.loads(made.stdout)  # the caller chose it: nothing to show
    changed = radar("password", "sue", "--password-stdin", input="pw-new-river-44\n")
    assert changed.exit_code == 0 and changed.stdout == ""
    generated = radar("password", "sue")
    assert generated.exit_code == 0
    new = generated.stdout.strip()
    store = _store()
    try:
        login = dict(max_failures=5, lockout=timedelta(minutes=5))
        assert store.users.authenticate("sue", "pw-new-river-44", **login) is None
        assert store.users.authenticate("sue", new, **login) is not None
    finally:
        store.close()


def test_refusals_are_one_clear_line(radar):
    _refused(radar("add", "zed", "--role", "analyst", "--district", "火星区"), "unknown district", "火星区", "南山区")
    _refused(radar("add", "zed", "--role", "analyst"), "analyst", "districts")
    _refused(radar("add", "zed", "--role", "admin", "--password-stdin", input="short\n"), "weak password")
    _refused(radar("add", "zed", "--role", "admin", "--password-stdin", input="zed-is-my-password\n"),
             "weak password", "username")
    _refused(radar("add", "bad name!", "--role", "admin"), "username")
    _refused(radar("add", "crm", "--role", "integration", "--password-stdin", input="pw-cloud-gate-3\n"),
             "integration", "token")
    assert radar("add", "zed", "--role", "admin").exit_code == 0
    _refused(radar("add", "zed", "--role", "admin"), "exists")
    _refused(radar("disable", "nobody"), "nobody")
    _refused(radar("token", "nobody"), "nobody")
    _refused(radar("password", "nobody", "--password-stdin", input="pw-cloud-gate-3\n"), "nobody")
    _refused(radar("password", "zed", "--password-stdin", input="\n"), "stdin")
    radar("disable", "zed")
    _refused(radar("token", "zed"), "disabled", "radar users enable zed")
    # a role typer cannot parse is a usage error (exit 2), as for every command
    assert radar("add", "x", "--role", "boss").exit_code == 2


def test_a_token_from_the_cli_authenticates_against_the_app(radar, config):
    from leads_api.app import create_app
    assert radar("add", "ana", "--role", "analyst", "--district", "南山区").exit_code == 0
    made = radar("token", "ana", "--name", "laptop")
    assert made.exit_code == 0 and "once" in made.stderr
    token = made.stdout.strip()
    assert token.startswith("rt_") and len(made.stdout.strip().splitlines()) == 1
    store = _store()
    try:
        client = TestClient(create_app(store, config, secret="test"))
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == "ana" and me.json()["districts"] == ["南山区"]
        assert client.get("/auth/me", headers={"Authorization": "Bearer rt_0.nope"}).status_code == 401
        radar("disable", "ana")  # revokes the token at once
        assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        store.close()
