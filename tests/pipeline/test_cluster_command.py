"""`radar cluster` on a CSV file: one line per row, in order; bad files fail clearly."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

from tests.conftest import REPO

RADAR = [sys.executable, "-m", "pipeline.cli", "cluster"]
ARGS = ["--text-columns", "title,body", "--id-column", "id", "--time-column", "at"]


def write(path, rows, header=("id", "title", "body", "at")):
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def run(*args):
    return subprocess.run(RADAR + list(args), capture_output=True, text=True, cwd=REPO, timeout=300)


def test_rows_keep_their_order_and_paraphrases_share_a_lead(tmp_path):
    src = write(tmp_path / "in.csv", [
        ("a1", "深南大道辅道大坑", "南山区粤海街道深南大道辅道有个大坑，电动车摔了好几次，希望尽快修", "2026/11/20 9:32:09"),
        ("a2", "深南大道的坑还没修", "深南大道辅道粤海街道这段路面一个大坑，昨晚又有电动车摔倒，希望尽快修", "2026-11-20 17:31:20"),
        ("bad-time", "路灯坏了", "宝安区西乡街道路灯坏了", "not a time"),
        ("", "无编号", "福田区华强北噪音扰民", "2026-11-20 10:00:00"),
        ("c1", "今天天气", "今天天气真好", "2026-11-21T08:00:00+08:00"),
    ])
    out = tmp_path / "out.jsonl"
    proc = run("--input", str(src), *ARGS, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["a1", "a2", "bad-time", "", "c1"]
    assert lines[0]["lead"] is not None and lines[0]["lead"] == lines[1]["lead"]
    assert lines[2]["lead"] is None and lines[3]["lead"] is None and lines[4]["lead"] is None
    assert "2 unusable" in proc.stderr


def test_missing_column_names_what_the_file_has(tmp_path):
    src = write(tmp_path / "in.csv", [("1", "x", "y")], header=("id", "title", "at"))
    proc = run("--input", str(src), *ARGS, "--output", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 1
    assert "missing column(s) ['body']" in proc.stderr and "'title'" in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_unreadable_file_and_empty_column_list(tmp_path):
    proc = run("--input", str(tmp_path / "nope.csv"), *ARGS, "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 1 and "cannot read" in proc.stderr
    src = write(tmp_path / "in.csv", [("1", "x", "y", "2026-01-01")])
    proc = run("--input", str(src), "--text-columns", " , ", "--id-column", "id", "--time-column", "at",
               "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 1 and "names no column" in proc.stderr


def test_invalid_utf8_and_a_huge_cell_do_not_stop_the_file(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("id,title,body,at\n".encode() + b"x1,\xff\xfe,\xc3(,2026-11-20 10:00:00\n"
                    + ("x2,big," + "路面坑" * 200_000 + ",2026-11-20 11:00:00\n").encode())
    out = tmp_path / "out.jsonl"
    proc = run("--input", str(src), *ARGS, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(l)["id"] for l in out.read_text(encoding="utf-8").splitlines()] == ["x1", "x2"]


def test_a_missing_embedding_model_is_one_clear_line_and_no_output(tmp_path):
    import os
    src = write(tmp_path / "in.csv", [("a1", "大坑", "深南大道辅道有个大坑", "2026-11-20 09:00"),
                                      ("a2", "大坑", "深南大道辅道的大坑还没修", "2026-11-20 10:00")])
    env = {**os.environ, "RADAR_EMBEDDING_MODEL": str(tmp_path / "no-model")}
    proc = subprocess.run(RADAR + ["--input", str(src), *ARGS, "--output", str(tmp_path / "out.jsonl")],
                          capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: embedding model folder {tmp_path / 'no-model'} does not exist"]
    assert not (tmp_path / "out.jsonl").exists()
