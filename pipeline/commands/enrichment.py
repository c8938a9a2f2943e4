"""`radar` commands for the enrichment capability:

    radar train classifier --input CSV --text-column COL --label-column COL --output DIR
    radar train category --base CSV --eval CSV [--replies CSV | --no-replies] [--labels-since DATE]
                         [--registry DIR]
    radar train models [--registry DIR]
    radar classify --model DIR --input CSV --text-columns COL1,COL2 --output OUT.jsonl
    radar enrich --text TEXT [--geotag TAG] [--model DIR]

Machine output goes to stdout or the output file; counts and problems to stderr. Exit codes:
0 done (bad rows are skipped and counted, never fatal), 1 the input or model cannot be used at
all (missing file or column, empty file, nothing to train on), 2 bad command-line usage.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

train_app = typer.Typer(help="Train models.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _counts(counts) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


@train_app.command("classifier")
def train_classifier(
    input: Annotated[Path, typer.Option("--input", help="labelled CSV (UTF-8, header row)")],
    text_column: Annotated[str, typer.Option("--text-column", help="column with the text")],
    label_column: Annotated[str, typer.Option("--label-column", help="column with the label")],
    output: Annotated[Path, typer.Option("--output", help="directory to write the model to")],
    low_confidence: Annotated[float, typer.Option(
        "--low-confidence", min=0.0, max=1.0,
        help="calibrated confidence below which a prediction is flagged for an analyst")] = 0.6,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate",
        help="fit the confidence temperature on 3-fold cross-validated margins")] = True,
) -> None:
    """Train the supervised category classifier from a labelled CSV."""
    from enrichment.dataset import DatasetError, read_table
    from enrichment.model import TextClassifier

    try:
        table = read_table(input, [text_column], label_column)
    except DatasetError as exc:
        _fail(str(exc))
    rows = table.usable
    print(f"read {input}: {_counts(table.counts)}", file=sys.stderr)
    if not rows:
        _fail(f"{input}: no usable rows to train on")
    try:
        model = TextClassifier.train([r.text for r in rows], [r.label for r in rows],
                                     calibrate=calibrate, low_confidence=low_confidence)
    except ValueError as exc:
        _fail(f"{input}: {exc}")
    model.meta["source"] = {"file": str(input), "text_column": text_column,
                            "label_column": label_column, "skipped": {
                                k: v for k, v in table.counts.items() if k not in ("ok", "rows")}}
    model.save(output)
    print(json.dumps({"output": str(output), "rows": len(rows), "labels": model.meta["labels"],
                      "temperature": model.temperature, "low_confidence": model.low_confidence},
                     ensure_ascii=False))


def _registry_dir(registry: Path | None) -> Path:
    from core.settings import Settings
    from enrichment.learning import default_registry
    if registry is not None:
        return registry
    try:
        return default_registry(Settings().home)
    except ValueError as exc:
        _fail(f"settings: {exc}", 2)


def _read_labelled(path: Path, text_columns: str, label_column: str):
    from enrichment.dataset import DatasetError, read_table
    columns = [c.strip() for c in text_columns.split(",") if c.strip()]
    if not columns:
        _fail(f"no text column given for {path}", 2)
    try:
        table = read_table(path, columns, label_column)
    except DatasetError as exc:
        _fail(str(exc))
    print(f"read {path}: {_counts(table.counts)}", file=sys.stderr)
    rows = table.usable
    if not rows:
        _fail(f"{path}: no usable rows")
    return [r.text for r in rows], [r.label for r in rows]


REPLIES_FILE = "teddy2020_messages_with_replies.csv"


def _reply_extra(replies: Path | None, no_replies: bool, base: Path, base_labels: list[str],
                 eval_texts: list[str]):
    """Reply-labelled raw messages as training extra (enrichment.reply_labels), reposts of eval
    messages dropped; (None, {}) with --no-replies or when the default file is absent (a file
    named with --replies must exist)."""
    from enrichment.dataset import DatasetError
    from enrichment.reply_labels import reply_extra
    if no_replies:
        return None, {}
    path = replies if replies is not None else base.parent / REPLIES_FILE
    if replies is None and not path.exists():
        return None, {}
    try:
        extra, weak = reply_extra(path, base_labels, exclude=eval_texts)
    except DatasetError as exc:
        _fail(str(exc))
    print(f"reply labels {path}: {len(weak.texts)} messages labelled, {len(weak.texts) - len(extra.texts)} "
          f"reposts of eval messages dropped, {len(weak.unlabelled)} without a known department", file=sys.stderr)
    return extra, {"replies": str(path), "reply_rows": len(extra.texts)}


@train_app.command("category")
def train_category(
    base: Annotated[Path, typer.Option("--base", help="labelled base CSV (e.g. the tokenized training file)")],
    eval_csv: Annotated[Path, typer.Option("--eval", help="the FIXED labelled evaluation CSV (never trained on)")],
    labels_since: Annotated[str | None, typer.Option(
        "--labels-since", help="use the desk's decisions at or after this date or ISO time (UTC); default all")] = None,
    registry: Annotated[Path | None, typer.Option(
        "--registry", help="model registry folder (default $RADAR_HOME/models/category)")] = None,
    base_text_columns: Annotated[str, typer.Option("--base-text-columns")] = "text_tokens",
    eval_text_columns: Annotated[str, typer.Option("--eval-text-columns")] = "留言主题,留言详情",
    label_column: Annotated[str, typer.Option("--label-column", help="label column of both CSVs")] = "label",
    desk_weight: Annotated[int, typer.Option("--desk-weight", min=1, help="times each desk example counts")] = 5,
    min_gain: Annotated[float, typer.Option(
        "--min-gain", help="accuracy the candidate must gain over the current model (0: no worse)")] = 0.0,
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate")] = True,
    replies: Annotated[Path | None, typer.Option(
        "--replies", help="messages with official replies (留言主题, 留言详情, 答复意见), labelled by the "
                          f"replying department; default {REPLIES_FILE} next to --base when present")] = None,
    no_replies: Annotated[bool, typer.Option("--no-replies", help="train without reply-labelled messages")] = False,
) -> None:
    """Train a category model from the base CSV, the reply-labelled raw messages and the desk's
    decisions, score it and the current model on the fixed eval CSV, promote it only if it is no
    worse; print one JSON line."""
    from enrichment.learning import Registry, promote_if_better, train_candidate
    from pipeline.commands.common import open_store, settings_or_exit
    from pipeline.commands.labels import parse_since

    since = parse_since(labels_since) if labels_since else None
    reg = Registry(_registry_dir(registry))
    base_texts, base_labels = _read_labelled(base, base_text_columns, label_column)
    eval_texts, eval_labels = _read_labelled(eval_csv, eval_text_columns, label_column)
    extra, reply_source = _reply_extra(replies, no_replies, base, base_labels, eval_texts)
    store = open_store(settings_or_exit())
    try:
        desk_labels = store.triage.labels(since)
    finally:
        store.close()
    print(f"desk labels: {len(desk_labels)}", file=sys.stderr)
    try:
        candidate = train_candidate(base_texts, base_labels, desk_labels, desk_weight=desk_weight,
                                    calibrate=calibrate, extra=extra,
                                    sources={"base": str(base), "eval_file": str(eval_csv), **reply_source,
                                             "labels_since": since.isoformat() if since else None})
    except ValueError as exc:
        _fail(f"cannot train: {exc}")
    decision = promote_if_better(reg, candidate, eval_texts, eval_labels, min_gain=min_gain)
    print(json.dumps({**decision.as_dict(), "registry": str(reg.root)}, ensure_ascii=False))


@train_app.command("models")
def train_models(
    registry: Annotated[Path | None, typer.Option(
        "--registry", help="model registry folder (default $RADAR_HOME/models/category)")] = None,
) -> None:
    """List the registry's versions, one JSON line each: status, eval scores, parent, current."""
    from enrichment.learning import Registry, listing

    reg = Registry(_registry_dir(registry))
    rows = listing(reg)
    if not rows:
        print(f"{reg.root}: no models yet (train one with `radar train category`)", file=sys.stderr)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


def classify(
    model_dir: Annotated[Path, typer.Option("--model", help="directory from `radar train classifier`")],
    input: Annotated[Path, typer.Option("--input", help="CSV to classify (UTF-8, header row)")],
    text_columns: Annotated[str, typer.Option("--text-columns", help="comma-separated, joined in order")],
    output: Annotated[Path, typer.Option("--output", help="JSON lines, one per input row")],
) -> None:
    """Classify every row of a CSV: one JSON line per row, in order."""
    from enrichment.dataset import DatasetError, read_table
    from enrichment.model import ModelError, TextClassifier

    columns = [c.strip() for c in text_columns.split(",") if c.strip()]
    if not columns:
        _fail("--text-columns names no column", 2)
    try:
        model = TextClassifier.load(model_dir)
        table = read_table(input, columns)
    except (ModelError, DatasetError) as exc:
        _fail(str(exc))
    usable = table.usable
    predictions = dict(zip((r.index for r in usable), model.predict([r.text for r in usable])))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as out:
        for row in table.rows:
            if row.index in predictions:
                label, confidence = predictions[row.index]
                line = {"row": row.index, "label": label, "confidence": confidence}
            else:
                line = {"row": row.index, "label": None, "confidence": 0.0, "skipped": row.problem}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"classified {input} -> {output}: {_counts(table.counts)}", file=sys.stderr)


def enrich_text(
    text: Annotated[str, typer.Option("--text", help="the post's text (title and body)")],
    geotag: Annotated[str | None, typer.Option("--geotag", help="the platform's place label")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model", help="optional supervised model")] = None,
    config_dir: Annotated[Path | None, typer.Option("--config", help="config folder")] = None,
) -> None:
    """Print the full enrichment of one text as one JSON object: why it was judged so."""
    from core.config import ConfigError, load_config
    from core.settings import Settings
    from enrichment.explain import explain
    from enrichment.model import ModelError, TextClassifier

    try:
        config = load_config(config_dir or Settings().config_dir)
    except ConfigError as exc:
        print("config is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise typer.Exit(1)
    model = None
    if model_dir is not None:
        try:
            model = TextClassifier.load(model_dir)
        except ModelError as exc:
            _fail(str(exc))
    print(json.dumps(explain(config, text, geotag, model), ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level app."""
    app.add_typer(train_app, name="train")
    app.command("classify")(classify)
    app.command("enrich")(enrich_text)
