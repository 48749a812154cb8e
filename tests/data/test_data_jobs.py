"""jobs/preprocess.py and jobs/split.py end to end, as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m2t.cli import EXIT_OK, EXIT_USAGE
from m2t.data.records import read_records_file

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
WT = "MKTAYIAKQRQISFVKSHFSRQ"


def job(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "jobs" / name), *map(str, args)],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=240,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def inputs(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "wild_type_seq": WT,
                    "mutation_seq": "MR" + WT[2:],
                    "text_description": "<delta_P> K2R weakens binding.",
                },
                {"wild_type_seq": WT, "mutation_seq": WT, "text_description": "same"},
            ]
        )
        + "\n{oops\n"
    )
    sets = tmp_path / "set.csv"
    sets.write_text(f"id,wild_type,mutations\na,{WT},R10W\nb,{WT},R2H\nc,{WT},p.Lys2_Thr3insGly\n")
    return seed, sets


def test_preprocess_then_split(tmp_path, inputs):
    out = tmp_path / "data"
    done = job("preprocess.py", "--input", inputs[0], "--input", inputs[1], "--output", out)
    assert done.returncode == EXIT_OK, done.stderr[-2000:]
    assert (
        done.stdout.strip().splitlines()[-1].startswith("preprocess: 6 rows from 2 input(s): 3 accepted, 3 rejected (")
    )
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["total"], summary["accepted"], summary["rejected"]) == (6, 3, 3)
    assert summary["by_reason"] == {"identical_mutant": 1, "malformed_json": 1, "notation_mismatch": 1}
    assert summary["by_source"][str(inputs[1])] == {"total": 3, "accepted": 2, "rejected": 1}
    assert summary["engine"] == "in-process"
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(Path(r["source"]).name, r["line"], r["kind"]) for r in rejects] == [
        ("seed.jsonl", 2, "identical_mutant"),
        ("seed.jsonl", 3, "malformed_json"),
        ("set.csv", 3, "notation_mismatch"),
    ]
    assert rejects[1]["raw"] == "{oops" and "expects R at position 2, found K" in rejects[2]["reason"]
    records = read_records_file(out / "records.parquet")
    assert [(r.id, r.mutations, r.description) for r in records] == [
        ("seed.jsonl:1", ("K2R",), "K2R weakens binding."),
        ("a", ("R10W",), None),
        ("c", ("K2_T3insG",), None),
    ]

    split = job("split.py", "--input", out / "records.parquet", "--output", out, "--val-fraction", "0.3", "--seed", "1")
    assert split.returncode == EXIT_OK, split.stderr[-2000:]
    # One wild type, so one protein: it stays in train rather than leave train empty.
    assert "split: 3 records -> train 3 (1 proteins), val 0 (0 proteins), test 0 (0 proteins)" in split.stdout
    assert len(read_records_file(out / "train.parquet")) == 3 and read_records_file(out / "val.parquet") == []


def test_defaults_synthetic_preprocess_and_split(tmp_path):
    root = f"output.root={tmp_path}"
    alone = job("split.py", root)  # no records.parquet yet: splits the synthetic set
    assert alone.returncode == EXIT_OK, alone.stderr[-2000:]
    assert "splitting the synthetic set" in alone.stdout
    first = {n: read_records_file(tmp_path / "data" / f"{n}.parquet") for n in ("train", "val", "test")}

    pre = job("preprocess.py", root)
    assert pre.returncode == EXIT_OK, pre.stderr[-2000:]
    assert "preprocess: 240 rows from 1 input(s): 240 accepted, 0 rejected" in pre.stdout
    assert json.loads((tmp_path / "data" / "summary.json").read_text())["inputs"] == ["synthetic"]
    assert (tmp_path / "data" / "rejects.jsonl").read_text() == ""
    again = job("split.py", root)
    assert again.returncode == EXIT_OK, again.stderr[-2000:]
    parts = {n: read_records_file(tmp_path / "data" / f"{n}.parquet") for n in ("train", "val", "test")}
    assert parts == first  # same records, same seed: the same split
    counts = json.loads((tmp_path / "data" / "split.json").read_text())["splits"]
    assert {n: c["records"] for n, c in counts.items()} == {"train": 192, "val": 24, "test": 24}
    ids = [{r.protein_id for r in p} for p in parts.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])

    only_val = job("split.py", root, "--test-fraction", "0")
    assert only_val.returncode == EXIT_OK and not (tmp_path / "data" / "test.parquet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{tmp}/missing.jsonl"], "input file not found: {tmp}/missing.jsonl"),
        (["--input", "{tmp}"], "is a directory"),
        (["--input", "{tmp}/data.txt"], "unknown format '.txt'"),
        (["--input", "{tmp}/set.csv", "--output", "{tmp}/set.csv"], "{tmp}/set.csv is a file, not a directory"),
        (
            ["--input", "{tmp}/set.csv", "--output", "{tmp}/set.csv/sub"],
            "sub: {tmp}/set.csv is a file, not a directory",
        ),
        (["data.max_lenght=5"], "did you mean 'max_length'"),
    ],
)
def test_preprocess_cannot_run_exits_2(tmp_path, args, message):
    (tmp_path / "data.txt").write_text("x")
    (tmp_path / "set.csv").write_text(f"wild_type,mutations\n{WT},K2R\n")
    done = job("preprocess.py", *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == EXIT_USAGE
    assert message.format(tmp=tmp_path) in done.stderr and "Traceback" not in done.stderr


def test_split_missing_input_exits_2(tmp_path):
    done = job("split.py", "--input", tmp_path / "records.parquet")
    assert done.returncode == EXIT_USAGE and "records file not found" in done.stderr


def test_preprocess_on_ray_data(ray_cluster, tmp_path, inputs):
    env = {"RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address}
    done = job(
        "preprocess.py", "--input", inputs[0], "--input", inputs[1], "--output", tmp_path / "ray", "--ray", env=env
    )
    assert done.returncode == EXIT_OK, done.stderr[-3000:]
    assert (
        job("preprocess.py", "--input", inputs[0], "--input", inputs[1], "--output", tmp_path / "local").returncode
        == EXIT_OK
    )
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("ray", "local")]
    assert [s.pop("engine") for s in summaries] == ["ray", "in-process"]
    for s in summaries:
        s.pop("seconds")
    assert summaries[0] == summaries[1]
    assert read_records_file(tmp_path / "ray" / "records.parquet") == read_records_file(
        tmp_path / "local" / "records.parquet"
    )
    assert (tmp_path / "ray" / "rejects.jsonl").read_text() == (tmp_path / "local" / "rejects.jsonl").read_text()
