"""`radar cluster`: the pipeline's enrich and cluster stages run on a CSV file, for offline
analysis and tests. Rows go through a throw-away SQLite store, so the clustering is exactly
the one the pipeline runs."""
from __future__ import annotations

import csv
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer

from pipeline.commands.common import open_store, settings_or_exit

CHINA = timezone(timedelta(hours=8))
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                "%Y/%m/%d", "%Y-%m-%d")
MAX_CELL = 100_000  # characters kept per cell; a hostile 1 GB cell must not stop the file
csv.field_size_limit(64 * 1024 * 1024)


class InputError(Exception):
    """The input file cannot be used as asked; the message says why."""


@dataclass(frozen=True)
class Row:
    index: int
    id: str
    text: str
    published_at: datetime | None


def parse_time(value: str, tz: timezone = CHINA) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def read_rows(path: Path, text_columns: list[str], id_column: str, time_column: str) -> list[Row]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = raw.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in [*text_columns, id_column, time_column] if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; the file has {header}")
    rows = []
    for i, rec in enumerate(reader):
        parts = [(rec.get(c) or "").strip()[:MAX_CELL] for c in text_columns]
        rows.append(Row(i, (rec.get(id_column) or "").strip(), "\n".join(p for p in parts if p),
                        parse_time(rec.get(time_column) or "")))
    return rows


def cluster_rows(rows: list[Row]) -> dict[int, str | None]:
    """Lead id per row index (None: noise, singleton, or unusable row)."""
    from clustering.stage import cluster
    from core.config import load_config
    from core.models import Post, Window
    from core.settings import Settings
    from core.store import Store
    from enrichment.stage import enrich

    usable = [r for r in rows if r.id and r.text and r.published_at]
    native = {r.index: re.sub(r"[^0-9A-Za-z_.-]", "_", r.id) + f"~{r.index}" for r in usable}
    config = load_config(Settings().config_dir)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'cluster.db'}")
        posts = [Post(platform="file", native_id=native[r.index], url=f"file:{r.index}", author_hash="",
                      author_name="", title=None, text=r.text, published_at=r.published_at,
                      crawled_at=r.published_at) for r in usable]
        store.posts.upsert(posts)
        window = Window.everything()
        enrich(store, config, window)
        cluster(store, config, window, relevant_only=False)
        _, leads = store.leads.list(limit=10_000_000)
        members = store.leads.member_ids([lead.id for lead in leads])
        store.close()
    lead_of = {pid: lid for lid, pids in members.items() for pid in pids}
    return {r.index: lead_of.get(f"file:{native[r.index]}") if r.index in native else None for r in rows}


def register(app: typer.Typer) -> None:
    @app.command("cluster")
    def cluster_file(
        input: Annotated[Path, typer.Option("--input", help="CSV file (UTF-8)")],
        text_columns: Annotated[str, typer.Option("--text-columns", help="columns joined in order, comma-separated")],
        id_column: Annotated[str, typer.Option("--id-column")],
        time_column: Annotated[str, typer.Option("--time-column")],
        output: Annotated[Path, typer.Option("--output", help="JSONL: one {id, lead} per input row")],
    ) -> None:
        """Cluster a CSV file into leads with the pipeline's own stages; one output line per row."""
        columns = [c.strip() for c in text_columns.split(",") if c.strip()]
        if not columns:
            print("error: --text-columns names no column", file=sys.stderr)
            raise typer.Exit(1)
        try:
            rows = read_rows(input, columns, id_column, time_column)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1)
        leads = cluster_rows(rows)
        skipped = sum(1 for r in rows if not (r.id and r.text and r.published_at))
        with output.open("w", encoding="utf-8") as out:
            for r in rows:
                out.write(json.dumps({"id": r.id, "lead": leads[r.index]}, ensure_ascii=False) + "\n")
        in_leads = sum(1 for v in leads.values() if v)
        print(f"{len(rows)} rows, {skipped} unusable (no id, text or time), {in_leads} in "
              f"{len(set(v for v in leads.values() if v))} leads -> {output}", file=sys.stderr)

    @app.command("trends")
    def trends_command(
        as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of tables")] = False,
        days: Annotated[int | None, typer.Option("--days", min=1,
                                                 help="class cases: look back N days (default trends.weeks of radar.yaml)")] = None,
    ) -> None:
        """Top class cases (recurring category x district over weeks) and current spikes (stored as warnings)."""
        from core.models import Window
        from pipeline.runner import trends_report
        from core.config import load_config

        settings = settings_or_exit()
        config = load_config(settings.config_dir)
        # as of now, to the minute: a re-run within the minute upserts the same warnings
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        weeks = -(-days // 7) if days else None
        store = open_store(settings)
        try:
            report = trends_report(store, config, Window(end - timedelta(days=1), end), weeks=weeks)
        finally:
            store.close()
        if as_json:
            print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
            return
        from rich.console import Console
        from rich.table import Table
        console = Console()
        cases = Table(title=f"class cases: category x district in >= 3 of the weeks {report.weeks[0]} .. {report.weeks[-1]}")
        for col in ("category", "district", "weeks", "leads", "posts", "per week (leads)"):
            cases.add_column(col)
        for c in report.class_cases[:20]:
            cases.add_row(c.category, c.district, str(c.weeks_present), str(c.leads), str(c.posts),
                          " ".join(f"{w.week[-3:]}:{w.leads}" for w in c.weeks))
        console.print(cases)
        spikes = Table(title=f"spikes as of {report.window_end:%Y-%m-%d %H:%M} UTC (counted by {report.spikes_counted_by})")
        for col in ("kind", "category", "district", "count", "baseline", "ratio"):
            spikes.add_column(col)
        for s in report.spikes:
            spikes.add_row(s.kind, s.category, s.district, str(s.count), f"{s.baseline:.2f}", f"{s.ratio:.1f}")
        console.print(spikes)
