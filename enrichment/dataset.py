"""Reading labelled or unlabelled CSV files for the classifier commands, without letting one bad
row stop a batch.

Contract: `read_table(path, text_columns, label_column=None) -> Table(rows, counts)` where each
row is `Row(index, text, label, problem)`; `problem` is None or why the row cannot be used
(`empty`, `invalid_utf8`, `no_label`). Row indices count data rows from 0, in file order, so
`radar classify` can answer one line per input row. Raises DatasetError (a clear message) for
what makes the whole file unusable: missing, not CSV, no header, missing columns.
"""
from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# A 1 MB cell is a bad row, not a crash: the normalizer truncates long text anyway.
csv.field_size_limit(min(sys.maxsize, 64 * 1024 * 1024))


class DatasetError(Exception):
    """The file as a whole cannot be used; the message says why."""


@dataclass(frozen=True)
class Row:
    index: int
    text: str
    label: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Table:
    rows: list[Row]
    counts: Counter = field(default_factory=Counter)

    @property
    def usable(self) -> list[Row]:
        return [r for r in self.rows if r.problem is None]


def read_table(path: Path | str, text_columns: list[str], label_column: str | None = None) -> Table:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    # Undecodable bytes become U+FFFD: the rows holding them are reported, the rest are used.
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a CSV file ({exc})") from None
    if not header or not any(h.strip() for h in header):
        raise DatasetError(f"{path}: empty file (no header row)")
    header = [h.strip() for h in header]
    wanted = [*text_columns, *([label_column] if label_column else [])]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; "
                           f"the file has {', '.join(header)}")
    positions = [header.index(c) for c in text_columns]
    label_pos = header.index(label_column) if label_column else None
    rows: list[Row] = []
    counts: Counter = Counter()
    index = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a NUL byte: skip the record, keep the numbering
            rows.append(Row(index, "", None, f"unreadable: {exc}"))
            counts["unreadable"] += 1
            index += 1
            continue
        if not record:
            continue  # blank line between records: csv gives [], not a data row
        cells = [record[p] if p < len(record) else "" for p in positions]
        joined = "\n".join(c for c in cells if c.strip())
        label = None
        if label_pos is not None:
            label = (record[label_pos] if label_pos < len(record) else "").strip() or None
        problem = None
        if "\ufffd" in joined or (label and "\ufffd" in label):
            problem = "invalid_utf8"
        elif not joined.strip():
            problem = "empty"
        elif label_column and label is None:
            problem = "no_label"
        counts[problem or "ok"] += 1
        rows.append(Row(index, joined, label, problem))
        index += 1
    counts["rows"] = index
    return Table(rows, counts)
