"""`radar users ...`: the desk's accounts. Passwords and tokens are shown once, when made;
the store keeps only their argon2 hashes, and no command here ever prints a hash."""
from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from core.triage import Role
from pipeline.commands.common import config_or_exit, open_store, settings_or_exit

users_app = typer.Typer(help="Desk users: analysts, supervisors, admins and integration machines.",
                        no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="the username")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin",
                                             help="read the password from stdin (one line) instead of generating one")]


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _user_json(user) -> dict:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "districts": list(user.districts), "disabled": user.disabled,
            "created_at": user.created_at.isoformat() if user.created_at else None,
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None}


def _store():
    return open_store(settings_or_exit())


def _districts(names: list[str]) -> tuple[str, ...]:
    """Full district names for `names` (an alias such as 南山 is accepted); any unknown one is an
    error, because a user scoped to a district no lead carries would see an empty desk."""
    gazetteer = config_or_exit(settings_or_exit()).gazetteer
    by_name = {d.name: d.name for d in gazetteer.districts}
    by_name.update({alias: d.name for d in gazetteer.districts for alias in d.aliases})
    unknown = [n for n in names if n not in by_name]
    if unknown:
        _fail(f"unknown district {', '.join(unknown)} (known: {', '.join(d.name for d in gazetteer.districts)})")
    return tuple(dict.fromkeys(by_name[n] for n in names))


def _read_password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        _fail("--password-stdin: stdin held no password")
    return line


def _strong_or_fail(password: str, username: str) -> None:
    from core.security import WeakPassword, check_strength
    try:
        check_strength(password, username)
    except WeakPassword as exc:
        _fail(f"weak password: {exc}")


@users_app.command("add")
def add(
    name: NameArg,
    role: Annotated[Role, typer.Option("--role", case_sensitive=False, help="what the user may do")],
    district: Annotated[list[str] | None, typer.Option("--district",
                                                       help="a district the user works for (repeat for more); "
                                                            "analysts need at least one")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="the name the desk shows")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user and print it as JSON, with its generated password (shown only this once)."""
    from core.security import new_password
    from core.store.errors import StoreError
    districts = _districts(district or [])
    if role == Role.INTEGRATION:
        if password_stdin:
            _fail("an integration user has no password; it authenticates with API tokens (radar users token)")
        password = None
    else:
        password = _read_password() if password_stdin else new_password()
        _strong_or_fail(password, name)
    store = _store()
    try:
        user = store.users.add(name, role.value, password=password, display_name=display_name, districts=districts)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    out = _user_json(user)
    if password is not None and not password_stdin:
        out["password"] = password
        _note("the password is shown only this once")
    if role == Role.INTEGRATION:
        _note(f"an integration user logs in with API tokens only: radar users token {name}")
    print(json.dumps(out, ensure_ascii=False))


@users_app.command("list")
def list_users(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user: role, districts, disabled or not, last login (never a hash)."""
    store = _store()
    try:
        users = store.users.list()
    finally:
        store.close()
    rows = [_user_json(u) for u in users]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{len(rows)} users")
    for col in ("username", "display name", "role", "districts", "disabled", "last login"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["username"], r["display_name"], r["role"], ", ".join(r["districts"]) or "(all)",
                      "yes" if r["disabled"] else "", (r["last_login_at"] or "")[:19])
    Console().print(table)


def _set_disabled(name: str, disabled: bool) -> None:
    from core.store.errors import StoreError
    store = _store()
    try:
        user = store.users.set_disabled(name, disabled)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    print(json.dumps(_user_json(user), ensure_ascii=False))


@users_app.command("disable")
def disable(name: NameArg) -> None:
    """Disable a user: their web sessions end and their API tokens are revoked at once."""
    _set_disabled(name, True)


@users_app.command("enable")
def enable(name: NameArg) -> None:
    """Enable a disabled user (tokens revoked when they were disabled stay revoked)."""
    _set_disabled(name, False)


@users_app.command("token")
def token(
    name: NameArg,
    label: Annotated[str, typer.Option("--name", help="what the token is for (shown in the store)")] = "cli",
) -> None:
    """Make an API token for the user and print it (only this once) for `Authorization: Bearer`."""
    from core.store.errors import StoreError
    store = _store()
    try:
        user = store.users.get(name)
        if user.disabled:
            _fail(f"user {name!r} is disabled; enable it first (radar users enable {name})")
        secret = store.users.add_token(name, label)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    _note("the token is shown only this once")
    print(secret)


@users_app.command("password")
def password(name: NameArg, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password: read from stdin, or generated and printed once."""
    from core.security import new_password
    from core.store.errors import StoreError
    store = _store()
    try:
        user = store.users.get(name)
        if user.role == Role.INTEGRATION.value:
            _fail("an integration user has no password; it authenticates with API tokens (radar users token)")
        secret = _read_password() if password_stdin else new_password()
        _strong_or_fail(secret, name)
        store.users.set_password(name, secret)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if password_stdin:
        _note(f"password of {name} changed")
    else:
        _note("the password is shown only this once")
        print(secret)


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level app."""
    app.add_typer(users_app, name="users")
