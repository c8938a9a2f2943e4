"""`radar airflow`: Airflow standalone on this machine, with the project's DAGs and pools.

Embedded: the metadata database is SQLite in $RADAR_HOME/airflow (LocalExecutor, parallelism 4
for a 2-core machine, examples off). It creates one pool per enabled platform and one per
work-order delivery target, installs the cluster policy that puts each mapped crawl in its
platform's pool and each mapped delivery in its target's pool, starts `airflow standalone`
in its own process group and stops it on Ctrl-C: SIGINT to the group leader (standalone's
main process, which shuts its components down; SIGTERM would orphan their workers), wait, then
check that no process of the group or of the tree is left, and kill stragglers if one is.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from pipeline.commands.common import config_or_exit, err, settings_or_exit

REPO = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 90
TERM_GRACE_SECONDS = 20
READY_TIMEOUT_SECONDS = 180


def airflow_env(home: Path, host: str, port: int, radar_home: Path, config_dir: Path) -> dict[str, str]:
    """The environment `airflow` runs in: project DAGs, embedded SQLite, small machine."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # standalone starts `airflow ...` from PATH
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    env["AIRFLOW__API__HOST"] = host
    env["AIRFLOW__API__PORT"] = str(port)
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://{host}:{port}/execution/")
    env["RADAR_HOME"] = str(radar_home)
    env["RADAR_CONFIG_DIR"] = str(config_dir)
    return env


def password_file(env: dict[str, str]) -> Path:
    named = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(named) if named else Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"


def _airflow(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def prepare(env: dict[str, str]) -> dict[str, dict]:
    """Migrate the metadata DB, install the pool policy, create/update the platform and delivery
    target pools."""
    from pipeline.airflow_policy import write_local_settings
    from pipeline.tasks import airflow_pools
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    write_local_settings(home)
    _airflow(env, "db", "migrate")
    pools = airflow_pools()
    pools_file = home / "radar_pools.json"
    pools_file.write_text(json.dumps(pools, indent=2), encoding="utf-8")
    if pools:
        _airflow(env, "pools", "import", str(pools_file))
    return pools


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, pgid, state) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def descendants(pid: int) -> set[int]:
    table = _proc_table()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (ppid, _, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def leftovers(leader: int, tree: set[int]) -> list[int]:
    """Live (non-zombie) processes of the leader's group or of its recorded tree."""
    return sorted(p for p, (_, pgid, state) in _proc_table().items()
                  if state != "Z" and (pgid == leader or p in tree or p == leader))


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS,
         term_grace: float = TERM_GRACE_SECONDS) -> list[int]:
    """SIGINT to standalone's main process and wait; then SIGTERM what is left (a task runner or
    API worker orphaned mid-shutdown on a loaded machine stops on SIGTERM, as under systemd), and
    SIGKILL only what ignores that too. Returns the processes that had to be SIGKILLed."""
    tree = descendants(proc.pid)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
    if _wait_gone(proc, tree, grace):
        return []
    for sig, wait in ((signal.SIGTERM, term_grace), (signal.SIGKILL, 3.0)):
        targets = leftovers(proc.pid, tree)
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if _wait_gone(proc, tree, wait):
            return targets if sig == signal.SIGKILL else []
    return leftovers(proc.pid, tree)


def _wait_gone(proc: subprocess.Popen, tree: set[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        proc.poll()
        if proc.returncode is not None and not leftovers(proc.pid, tree):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def register(app: typer.Typer) -> None:
    """Add `radar airflow` to the top-level app."""

    @app.command("airflow")
    def airflow_command(
        host: Annotated[str, typer.Option(help="address of the Airflow API server and UI")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port of the Airflow API server and UI")] = 8080,
        pools_only: Annotated[bool, typer.Option(
            "--pools-only", help="create/update the platform and delivery target pools and the policy, "
                                 "then exit")] = False,
    ) -> None:
        """Airflow standalone with the Civic Radar DAGs on $RADAR_HOME/airflow; Ctrl-C stops it."""
        settings = settings_or_exit()
        config = config_or_exit(settings)
        home = (settings.home / "airflow").resolve()
        env = airflow_env(home, host, port, settings.home.resolve(), Path(config.directory).resolve())
        err.print(f"Airflow home {home}: migrating the metadata database, creating pools …")
        try:
            pools = prepare(env)
        except RuntimeError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1)
        err.print(f"pools: {', '.join(pools) or '(no enabled platform, no delivery target)'}")
        if pools_only:
            return
        # A shell starts background jobs with SIGINT ignored, and an ignored signal survives exec:
        # without this, `radar airflow &` (or a test runner started that way) and the standalone
        # it starts could never be stopped by SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log_path = home / "standalone.log"
        with open(log_path, "ab") as log:
            # Its own session and process group: Ctrl-C reaches only us, and we stop it in order.
            proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, cwd=home,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)

        def on_term(signum, frame):  # SIGTERM (systemd, a test) stops as cleanly as Ctrl-C
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
        code = 0
        try:
            url = f"http://{host}:{port}"
            if not wait_healthy(f"{url}/api/v2/monitor/health", proc):
                err.print(f"[red]Airflow did not become healthy; see {log_path}[/red]")
                code = 1
            else:
                print(f"Airflow UI: {url}   (user admin, password in {password_file(env)})", flush=True)
                err.print(f"logs: {log_path}   DAGs: {env['AIRFLOW__CORE__DAGS_FOLDER']}   Ctrl-C stops it")
                proc.wait()
                err.print(f"[red]airflow standalone exited ({proc.returncode}); see {log_path}[/red]")
                code = 1
        except KeyboardInterrupt:
            err.print("stopping Airflow …")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
            stragglers = stop(proc)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)
        if stragglers:
            err.print(f"[red]had to kill processes left after SIGINT: {stragglers}[/red]")
            code = code or 1
        else:
            err.print("Airflow stopped; no process left behind")
        raise typer.Exit(code)
