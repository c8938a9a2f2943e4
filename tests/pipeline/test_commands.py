"""How `radar` is assembled: command modules register themselves and never import back into
`pipeline.cli`, so adding one is one line in COMMAND_MODULES."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

from pipeline import cli

COMMANDS = Path(cli.__file__).parent / "commands"


def test_every_command_module_is_listed_and_registers():
    modules = {f"pipeline.commands.{p.stem}" for p in COMMANDS.glob("*.py")} - {
        "pipeline.commands.__init__", "pipeline.commands.common"}
    assert set(cli.COMMAND_MODULES) == modules
    assert all(callable(importlib.import_module(m).register) for m in cli.COMMAND_MODULES)
    names = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    groups = {g.name for g in cli.app.registered_groups}
    assert {"airflow", "trends", "cluster", "classify", "enrich"} <= names
    assert {"crawl", "train", "config"} <= groups


def test_no_command_module_imports_pipeline_cli():
    for path in COMMANDS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "pipeline.cli", path.name
            elif isinstance(node, ast.Import):
                assert all(a.name != "pipeline.cli" for a in node.names), path.name
