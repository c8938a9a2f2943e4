"""`radar labels export`: the analysts' decisions (verify, reject, re-categorize, re-route) as
training examples: the text, what the models said, what the analyst decided, who and when."""
from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from pipeline.commands.common import check_output, open_store, settings_or_exit, write_atomically

labels_app = typer.Typer(help="Analysts' decisions as labelled training examples.", no_args_is_help=True)

# The decided fields a trainer most often wants as columns; the whole dicts stay in *_json.
CSV_FIELDS = ("relevant", "category", "item", "unit", "district", "urgent")
CSV_COLUMNS = ("id", "lead_id", "action", "actor", "at", "model_version", "text",
               *(f"model_{k}" for k in CSV_FIELDS), *CSV_FIELDS, "reason", "model_json", "decision_json")


class Format(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def parse_since(value: str) -> datetime:
    """A date (midnight UTC) or an ISO time; a time without an offset is read as UTC."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (2026-12-01) or ISO time", param_hint="--since")
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def label_record(label) -> dict:
    return {"id": label.id, "lead_id": label.lead_id, "action": label.action, "text": label.text,
            "model": label.model, "decision": label.decision, "actor": label.actor,
            "at": label.at.isoformat(), "model_version": label.model_version}


def _csv_row(record: dict) -> dict:
    model, decision = record["model"] or {}, record["decision"] or {}
    row = {k: record[k] for k in ("id", "lead_id", "action", "actor", "at", "model_version", "text")}
    row.update({f"model_{k}": model.get(k) for k in CSV_FIELDS})
    row.update({k: decision.get(k) for k in CSV_FIELDS})
    row["reason"] = decision.get("reason")
    row["model_json"] = json.dumps(model, ensure_ascii=False, sort_keys=True)
    row["decision_json"] = json.dumps(decision, ensure_ascii=False, sort_keys=True)
    return row


def write_labels(records: list[dict], out, fmt: Format) -> None:
    if fmt == Format.jsonl:
        for r in records:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for r in records:
        writer.writerow(_csv_row(r))


@labels_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    since: Annotated[str | None, typer.Option(help="only decisions at or after this date or ISO time (UTC)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="one JSON object per line, or CSV")] = Format.jsonl,
    force: Annotated[bool, typer.Option("--force", help="overwrite OUTPUT if it exists")] = False,
) -> None:
    """Write every stored decision to OUTPUT, oldest first; print {"labels": N, "output": path}."""
    start = parse_since(since) if since else None
    check_output(output, force)
    store = open_store(settings_or_exit())
    try:
        records = [label_record(l) for l in store.triage.labels(start)]
    finally:
        store.close()
    write_atomically(output, lambda out: write_labels(records, out, fmt))
    print(json.dumps({"labels": len(records), "output": str(output.resolve())}, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level app."""
    app.add_typer(labels_app, name="labels")
