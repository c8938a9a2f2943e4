"""`radar airflow`: Airflow standalone on this machine, with the project's DAGs and pools.

Embedded: the metadata database is SQLite in $RADAR_HOME/airflow (LocalExecutor, parallelism 4
for a 2-core machine, examples off). It creates one pool per enabled platform and one per
work-order delivery target, installs the cluster policy that puts each mapped crawl in its
platform's pool and each mapped delivery in its target's pool, starts `airflow standalone`
in its own process group and stops it on Ctrl-C: SIGINT to the group leader (standalone's
main process, which shuts its components down; SIGTERM would orphan their workers), wait, then
check that no process of the group or of the tree is left, and kill stragglers if one is.

`--executor celery` is the distributed profile on one machine: PostgreSQL as metadata database
(and Celery result backend; it must be reachable, `radar airflow` does not start it), Redis as
broker (Debian's `redis-server` started as a child, without persistence, when the broker URL
names this machine and nothing answers there), and each component started on its own instead
of `airflow standalone`: api-server, scheduler, dag-processor, triggerer and N `airflow celery
worker` processes, each in its own process group. They share a JWT secret and the API's secret
key; every worker serves its logs on its own port. Ctrl-C stops them in order: scheduler,
DAG processor and triggerer first (nothing new is queued), then the workers (a warm shutdown:
running tasks finish), then the API server (the workers' tasks report to it), then Redis.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

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
         term_grace: float = TERM_GRACE_SECONDS, first: signal.Signals = signal.SIGINT) -> list[int]:
    """SIGINT to standalone's main process and wait; then SIGTERM what is left (a task runner or
    API worker orphaned mid-shutdown on a loaded machine stops on SIGTERM, as under systemd), and
    SIGKILL only what ignores that too. Returns the processes that had to be SIGKILLed.
    `first`: the signal the process shuts down on (a Celery worker: SIGTERM, a warm shutdown)."""
    tree = descendants(proc.pid)
    if proc.poll() is None:
        os.kill(proc.pid, first)
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


# --- the CeleryExecutor profile -----------------------------------------------------------------

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
WORKER_CONCURRENCY = 2
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def celery_env(env: dict[str, str], metadata_url: str, broker_url: str, home: Path,
               workers: int, concurrency: int) -> dict[str, str]:
    """`env` for the CeleryExecutor profile: PostgreSQL metadata and result backend, the broker,
    one JWT secret and API secret key shared by every component (kept in $AIRFLOW_HOME so a
    restart keeps the UI's sessions)."""
    env = dict(env)
    env["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor"
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url
    if metadata_url.startswith("postgresql+psycopg:"):
        # Airflow derives its async URL as postgresql+asyncpg (not installed); psycopg 3 is async too
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", metadata_url)
    env["AIRFLOW__CELERY__BROKER_URL"] = broker_url
    env.setdefault("AIRFLOW__CELERY__RESULT_BACKEND", "db+" + metadata_url)
    env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(concurrency)
    # A task's message is acknowledged when it ends: a message of a lost worker comes back after
    # this long (the scheduler re-runs its task much earlier, after the heartbeat timeout).
    env.setdefault("AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT", "3600")
    env["AIRFLOW__CORE__PARALLELISM"] = str(max(4, workers * concurrency))
    secrets_file = home / "celery_secrets.json"
    if secrets_file.exists():
        shared = json.loads(secrets_file.read_text(encoding="utf-8"))
    else:
        shared = {"jwt_secret": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(32)}
        home.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(json.dumps(shared))
    env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", shared["jwt_secret"])
    env.setdefault("AIRFLOW__API__SECRET_KEY", shared["secret_key"])
    return env


def check_metadata_url(url: str) -> str | None:
    """None if `url` is a PostgreSQL database that answers, else why not."""
    if not url.startswith("postgresql"):
        return (f"the CeleryExecutor profile needs PostgreSQL as metadata database (got {url.split(':')[0]!r}); "
                "pass --metadata-url postgresql+psycopg://user:password@host/airflow")
    from sqlalchemy import create_engine, text
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error means: not usable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"metadata database {engine.url.render_as_string(hide_password=True)} is not reachable: {first}"
    finally:
        engine.dispose()
    return None


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def start_redis(broker_url: str, log_dir: Path) -> subprocess.Popen | None:
    """Start Debian's redis-server for a broker URL on this machine when nothing answers there
    (no persistence, bound to loopback); None if one answers. RuntimeError if it cannot."""
    parts = urlsplit(broker_url)
    if parts.scheme not in ("redis", "rediss"):
        if parts.scheme in ("", None):
            raise RuntimeError(f"broker URL without a scheme: {broker_url!r}")
        return None  # another broker (amqp://…): it must be running
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if redis_answers(host, port):
        return None
    if host not in LOCAL_HOSTS:
        raise RuntimeError(f"no Redis answers at {host}:{port} (broker {broker_url})")
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/system-deps.sh installs it)")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "redis.log", "ab") as log:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(log_dir)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if redis_answers(host, port):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop(proc, grace=5, term_grace=3, first=signal.SIGTERM)
    raise RuntimeError(f"redis-server did not start on {host}:{port}; see {log_dir / 'redis.log'}")


def celery_components(env: dict[str, str], workers: int, concurrency: int) -> list[tuple[str, list[str], dict]]:
    """(name, airflow arguments, environment) of every component, in start order. Each worker
    has its own Celery hostname, which is also the `hostname` of the task instances it runs
    (`pipeline.airflow_policy.worker_hostname`), and its own log server port (the configured
    one, +1, +2 …)."""
    base_port = int(env.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "8793"))
    node = socket.gethostname()
    comps = [("api-server", ["api-server"], env), ("scheduler", ["scheduler"], env),
             ("dag-processor", ["dag-processor"], env), ("triggerer", ["triggerer"], env)]
    for i in range(1, workers + 1):
        name = f"worker{i}@{node}"
        wenv = {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(base_port + i - 1),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pipeline.airflow_policy.worker_hostname",
                "RADAR_AIRFLOW_WORKER_HOSTNAME": name}
        comps.append((f"worker{i}", ["celery", "worker", "-H", name, "-c", str(concurrency)], wenv))
    return comps


#: stop order: nothing new scheduled, then running tasks finish, then the API their tasks talk to
STOP_STAGES = (("scheduler", "dag-processor", "triggerer"), ("worker",), ("api-server",))


def stop_components(procs: dict[str, subprocess.Popen]) -> list[int]:
    """Stop the components stage by stage (those of a stage in parallel); SIGTERM is the
    graceful shutdown of each. Returns what had to be SIGKILLed."""
    from concurrent.futures import ThreadPoolExecutor
    killed: list[int] = []
    for stage in STOP_STAGES:
        group = [p for name, p in procs.items() if name.startswith(stage)]
        if not group:
            continue
        with ThreadPoolExecutor(len(group)) as pool:
            for result in pool.map(lambda p: stop(p, first=signal.SIGTERM), group):
                killed += result
    return killed


def run_celery(env: dict[str, str], home: Path, host: str, port: int, broker_url: str,
               workers: int, concurrency: int) -> int:
    """Start Redis (if needed) and every component; wait for Ctrl-C/SIGTERM; stop them all."""
    log_dir = home / "logs" / "components"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        redis = start_redis(broker_url, log_dir)
    except RuntimeError as exc:
        err.print(f"[red]{exc}[/red]")
        return 1
    if redis is not None:
        err.print(f"started redis-server (pid {redis.pid}) for {broker_url}")
    procs: dict[str, subprocess.Popen] = {}

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    code = 0
    try:
        for name, args, cenv in celery_components(env, workers, concurrency):
            with open(log_dir / f"{name}.log", "ab") as log:
                procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=cenv, cwd=home,
                                               stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True)
        # Which process is which (Celery rewrites its workers' command lines): for operators, tests.
        (home / "components.json").write_text(json.dumps({n: p.pid for n, p in procs.items()}), encoding="utf-8")
        url = f"http://{host}:{port}"
        if not wait_healthy(f"{url}/api/v2/monitor/health", procs["api-server"]):
            err.print(f"[red]the Airflow API server did not become healthy; see {log_dir}[/red]")
            code = 1
        else:
            pids = "  ".join(f"{name} {p.pid}" for name, p in procs.items())
            print(f"Airflow UI: {url}   (user admin, password in {password_file(env)})", flush=True)
            err.print(f"CeleryExecutor, broker {broker_url}, {workers} worker(s) x {concurrency}; "
                      f"logs: {log_dir}   Ctrl-C stops it\n{pids}")
            reported: set[str] = set()
            while True:
                gone = {name for name, p in procs.items() if p.poll() is not None}
                # A lost worker is what Celery is for: its tasks are retried on the others.
                for name in sorted(gone - reported):
                    if name.startswith("worker"):
                        err.print(f"[yellow]{name} exited ({procs[name].returncode}); "
                                  f"{sum(1 for n in procs if n.startswith('worker') and n not in gone)} "
                                  f"worker(s) left; see {log_dir / (name + '.log')}[/yellow]")
                reported |= gone
                fatal = sorted(n for n in gone if not n.startswith("worker"))
                if fatal or all(n in gone for n in procs if n.startswith("worker")):
                    err.print(f"[red]{', '.join(fatal) or 'every worker'} exited; stopping; see {log_dir}[/red]")
                    code = 1
                    break
                time.sleep(1)
    except KeyboardInterrupt:
        err.print("stopping Airflow …")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stragglers = stop_components(procs)
        if redis is not None:
            stragglers += stop(redis, grace=10, term_grace=5, first=signal.SIGTERM)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous)
    if stragglers:
        err.print(f"[red]had to kill processes left after SIGTERM: {stragglers}[/red]")
        return code or 1
    err.print("Airflow stopped; no process left behind")
    return code


def register(app: typer.Typer) -> None:
    """Add `radar airflow` to the top-level app."""

    @app.command("airflow")
    def airflow_command(
        host: Annotated[str, typer.Option(help="address of the Airflow API server and UI")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port of the Airflow API server and UI")] = 8080,
        pools_only: Annotated[bool, typer.Option(
            "--pools-only", help="create/update the platform and delivery target pools and the policy, "
                                 "then exit")] = False,
        executor: Annotated[str, typer.Option(
            help="local: `airflow standalone` (SQLite); celery: CeleryExecutor with Redis and PostgreSQL, "
                 "each component its own process")] = "local",
        broker_url: Annotated[str, typer.Option(
            help="celery: the broker; Redis on this machine is started when nothing answers")] = DEFAULT_BROKER_URL,
        metadata_url: Annotated[str | None, typer.Option(
            help="celery: PostgreSQL metadata DB (also the Celery result backend), e.g. "
                 "postgresql+psycopg://airflow:***@127.0.0.1/airflow; default "
                 "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")] = None,
        workers: Annotated[int, typer.Option(min=1, help="celery: number of Celery workers")] = 2,
        concurrency: Annotated[int, typer.Option(min=1, help="celery: task slots per worker")] = WORKER_CONCURRENCY,
    ) -> None:
        """Airflow with the Civic Radar DAGs on $RADAR_HOME/airflow (standalone, or CeleryExecutor
        with --executor celery); Ctrl-C stops it."""
        if executor not in ("local", "celery"):
            err.print(f"[red]--executor must be local or celery, not {executor!r}[/red]")
            raise typer.Exit(2)
        settings = settings_or_exit()
        config = config_or_exit(settings)
        home = (settings.home / "airflow").resolve()
        env = airflow_env(home, host, port, settings.home.resolve(), Path(config.directory).resolve())
        if executor == "celery":
            metadata_url = metadata_url or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
            problem = check_metadata_url(metadata_url) if metadata_url else (
                "the CeleryExecutor profile needs a PostgreSQL metadata database: --metadata-url "
                "postgresql+psycopg://user:password@host/airflow (or AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)")
            if problem:
                err.print(f"[red]{problem}[/red]")
                raise typer.Exit(1)
            env = celery_env(env, metadata_url, broker_url, home, workers, concurrency)
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
        if executor == "celery":
            raise typer.Exit(run_celery(env, home, host, port, broker_url, workers, concurrency))
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
        if proc.pid in stragglers:
            err.print(f"[red]Airflow did not stop on SIGINT or SIGTERM; killed: {stragglers}[/red]")
            code = code or 1
        else:
            if stragglers:
                # Airflow itself stopped; what is left are its orphans (a LocalExecutor worker
                # whose scheduler exited first blocks on its queue, deaf to SIGTERM): killed.
                err.print(f"[yellow]killed {len(stragglers)} orphaned Airflow process(es) that ignored "
                          f"SIGINT and SIGTERM: {stragglers}[/yellow]")
            err.print("Airflow stopped; no process left behind")
        raise typer.Exit(code)
