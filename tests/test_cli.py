"""The `m2t` command and the jobs' shared plumbing: the dispatcher, the thin scripts, exit codes (real child
processes)."""

from __future__ import annotations

import ast
import importlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m2t.cli import COMMANDS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, module_name
from m2t.commands.args import job_parser, local_path
from m2t.config import CONFIGS_DIR

REPO = Path(__file__).resolve().parents[1]


def m2t(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``m2t ARGS`` as the console script runs it (``python -m m2t`` is the same entry point)."""
    return subprocess.run([sys.executable, "-m", "m2t", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_every_command_and_bad_usage_exits_2():
    run = m2t("--help")
    assert run.returncode == EXIT_OK, run.stderr
    for name in COMMANDS:  # each with the first line of its module's docstring
        assert re.search(rf"^  {name} +[A-Z]\w+", run.stdout, re.M), f"{name} missing from:\n{run.stdout}"
    assert re.fullmatch(r"m2t \d+\.\d+\.\d+\n", m2t("--version").stdout)
    for args, message in (([], "required: COMMAND"), (["bogus"], "invalid choice: 'bogus'")):
        run = m2t(*args)
        assert run.returncode == EXIT_USAGE and message in run.stderr, run.stderr


def test_the_table_names_every_command_module_and_each_has_a_main():
    modules = {p.stem for p in (REPO / "m2t" / "commands").glob("*.py")} - {"__init__", "args"}
    assert {name.replace("-", "_") for name in COMMANDS} == modules
    for name in COMMANDS:
        assert callable(importlib.import_module(module_name(name)).main), name


@pytest.mark.parametrize("script", sorted((REPO / "jobs").glob("*.py")), ids=lambda p: p.name)
def test_every_script_is_a_thin_entry_point_to_its_command(script):
    """No job's logic lives in jobs/: a script imports its command's main and runs it, nothing else."""
    tree = ast.parse(script.read_text())
    imported = {(n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert imported == {("m2t.cli", "run"), (f"m2t.commands.{script.stem}", "main")}
    assert script.stem.replace("_", "-") in COMMANDS
    assert len(tree.body) == 4  # docstring, two imports, `if __name__ == "__main__": run(main)`


def test_a_command_takes_the_same_options_as_its_script():
    helps = [
        subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
        for cmd in ([sys.executable, str(REPO / "jobs" / "split.py"), "--help"], [sys.executable, "-m", "m2t", "split", "--help"])
    ]  # fmt: skip
    options = [h[h.index("positional arguments:") :] for h in helps]
    assert options[0] == options[1] and "--val-fraction" in options[0]
    assert helps[1].startswith("usage: m2t split ")


def test_help_names_the_config_each_command_defaults_to():
    assert "default: tiny" in m2t("pretrain", "--help").stdout
    assert "default: smollm2_mutadescribe" in m2t("study", "--help").stdout  # the study runs its own config


def test_configs_lists_the_shipped_configs_and_copies_one(tmp_path):
    listed = m2t("configs", cwd=tmp_path)
    assert listed.returncode == EXIT_OK, listed.stderr
    for path in CONFIGS_DIR.iterdir():
        assert re.search(rf"^  {re.escape(path.name)} +(m2t|ray-serve|deepspeed) ", listed.stdout, re.M), path.name
    (tmp_path / "exp").mkdir()
    copied = m2t("configs", "copy", "tiny", "exp", cwd=tmp_path)
    assert copied.returncode == EXIT_OK and f"copied tiny to {tmp_path / 'exp' / 'tiny.yaml'}" in copied.stdout
    assert "  root: ../outputs" in (tmp_path / "exp" / "tiny.yaml").read_text()
    again = m2t("configs", "copy", "tiny", "exp", cwd=tmp_path)
    assert again.returncode == EXIT_USAGE and again.stderr.strip().endswith(
        "already exists; pass another DEST or remove it first"
    )


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
