"""What every `radar` command module shares: settings, config and store opened or exit with a
message, the stderr console, and a progress bar over stages. Command modules import these from
here, never from `pipeline.cli`, which only assembles the app."""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from core.config import Config, ConfigError, load_config
from core.settings import Settings

err = Console(stderr=True)


def settings_or_exit() -> Settings:
    """The settings from the environment; a bad value is one line and exit 2."""
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]settings error:[/red] {exc}")
        raise typer.Exit(2)


def config_or_exit(settings: Settings, config_dir: Path | None = None) -> Config:
    """The validated config; if invalid, every problem on stderr and exit 1."""
    try:
        return load_config(config_dir or settings.config_dir)
    except ConfigError as exc:
        # Plain lines, never wrapped: each problem must stay greppable as file: key: message.
        print("config is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise typer.Exit(1)


def open_store(settings: Settings, url: str | None = None):
    """The store at `url` (default: the settings' database), migrated to the latest schema."""
    from core.store import Store  # SQLAlchemy and the models load only for commands that need them
    return Store.open(url or settings.db_url)


def progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TimeElapsedColumn(), console=err, transient=False)


def run_with_progress(stages_runner, names: list[str]):
    """Call `stages_runner(on_stage)` with a bar that advances each time a stage of `names` starts."""
    with progress() as bar:
        task = bar.add_task("starting", total=len(names))
        done = {"n": 0}

        def on_stage(name: str) -> None:
            if done["n"]:
                bar.advance(task)
            done["n"] += 1
            bar.update(task, description=f"stage: {name}")

        result = stages_runner(on_stage)
        bar.update(task, completed=len(names), description="all stages done")
    return result


def fail(message: str) -> None:
    """A user-fixable error: one line on stderr, exit 1."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def check_output(output: Path, force: bool) -> None:
    """Refuse to overwrite OUTPUT without --force, or to write over something not a file."""
    if output.exists() and not force:
        fail(f"{output} exists; pass --force to overwrite it")
    if output.exists() and not output.is_file():
        fail(f"{output} is not a file")


def write_atomically(output: Path, write: Callable[[IO[str]], None]) -> None:
    """Write OUTPUT through `write(file)` beside it and rename it into place: a crash never
    leaves half a file that a reader (a training job, an import) would take for the whole."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                write(out)
            os.replace(tmp, output)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
