"""The jobs' shared exit-code plumbing, in a real child process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m2t.cli import EXIT_INTERRUPTED, job_parser, local_path

CHILD = "from m2t.cli import run; import time; print('ready', flush=True); run(lambda: time.sleep(120))"


def test_ctrl_c_exits_130_with_one_line_and_no_traceback():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == EXIT_INTERRUPTED == 130
    assert err.strip() == "interrupted" and "Traceback" not in err


def test_path_flags_refuse_object_storage_uris(capsys):
    """``--input s3://b/x`` would otherwise become a local path 's3:/b/x' (pathlib folds the '//')."""
    parser = job_parser("t")
    parser.add_argument("--input", type=local_path)
    assert parser.parse_args(["--input", "data/x.csv"]).input == Path("data/x.csv")
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--input", "s3://bucket/x.csv"])
    assert exit_.value.code == 2
    assert "s3://bucket/x.csv: object storage is not supported here" in capsys.readouterr().err
