"""jobs/benchmark.py as a user runs it: a tiny embed run writes the JSON and prints the table; bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _job(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "jobs" / "benchmark.py"), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )


def test_tiny_embed_run_writes_json_and_table(tmp_path):
    out = tmp_path / "b.json"
    done = _job("embed", "--scale", "tiny", "--out", str(out), f"output.root={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(out.read_text())
    assert result["benchmark"] == "embed" and result["ratio"] > 0
    assert "| embed " in done.stdout and str(out) in done.stdout
    assert (tmp_path / "benchmark" / "work").is_dir()


def test_bad_override_exits_2():
    done = _job("embed", "--scale", "tiny", "serve.no_such_key=1")
    assert done.returncode == 2 and "no_such_key" in done.stderr


def test_real_cpu_benchmarks_run_on_their_own():
    done = _job("train_real_cpu", "embed", "--scale", "tiny")
    assert done.returncode == 2 and "run them without the other benchmarks" in done.stderr
    done = _job("no_such_benchmark")
    assert done.returncode == 2 and "unknown benchmark no_such_benchmark" in done.stderr
