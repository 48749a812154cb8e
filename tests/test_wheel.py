"""The wheel outside the repo: installed into a fresh venv, then run from an empty directory as a user would.

The venv reuses this venv's installed dependencies through a ``.pth`` file (no network, no index) but holds m2t
only as the wheel installed it; PYTHONPATH is cleared, so nothing of the source tree is importable. From an empty
directory: ``m2t --help``, ``m2t configs``, then the shortest path through the pipeline, ``m2t preprocess`` ->
``m2t pretrain`` (2 steps, one worker, its own local Ray) -> ``m2t describe`` on the checkpoint it published.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from m2t.model.card import read_card

pytestmark = pytest.mark.slow
SMALL = ["data.synthetic.n_proteins=8", "tracking=none"]
STEPS = ["train.num_workers=1", "train.pretrain.steps=2", "train.pretrain.warmup_steps=0"]
STEPS += ["train.pretrain.checkpoint_every=2", "train.pretrain.eval_every=2", "embed.cpus_per_actor=0.25"]


@pytest.fixture(scope="module")
def venv(m2t_wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed by its own pip (from the file alone), then this venv's dependencies made
    visible (after the install, so that pip never sees, let alone touches, this venv's own m2t)."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)  # pip from ensurepip, offline
    python = root / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-cache-dir", str(m2t_wheel)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    Path(purelib, "_m2t_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")  # appended to sys.path
    return root


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("RAY_")}
    env |= {"RAY_ADDRESS": "local", "PATH": f"{venv / 'bin'}:{env['PATH']}"}  # a Ray of its own, not the tests'
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_installed_command_runs_the_pipeline_from_an_empty_directory(venv, tmp_path):
    where = run(
        venv, "python", "-c", "import m2t, shutil; print(m2t.__file__); print(shutil.which('m2t'))", cwd=tmp_path
    )
    module, script = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(script) == venv / "bin" / "m2t", where.stderr

    helped = run(venv, "m2t", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "pretrain" in helped.stdout and "describe" in helped.stdout, helped.stderr
    listed = run(venv, "m2t", "configs", cwd=tmp_path)
    assert listed.returncode == 0 and "tiny.yaml" in listed.stdout and str(venv) in listed.stdout, listed.stderr

    pre = run(venv, "m2t", "preprocess", *SMALL, cwd=tmp_path)
    assert pre.returncode == 0, pre.stderr[-3000:]
    records = tmp_path / "outputs" / "data" / "records.parquet"  # outputs under the working directory
    assert f"-> {records}" in pre.stdout and records.is_file()

    trained = run(venv, "m2t", "pretrain", *SMALL, *STEPS, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-5000:]
    summary, _ = json.JSONDecoder().raw_decode(trained.stdout[trained.stdout.index('{\n  "stage"') :])
    checkpoint = tmp_path / "outputs" / "pretrain" / "checkpoint"  # what it wrote, by path
    assert summary["checkpoint"] == str(checkpoint) and summary["model_card"] == str(checkpoint / "README.md")
    assert Path(summary["metrics"]).is_file() and Path(summary["loss_curve"]).is_file()
    card = read_card(checkpoint)
    assert card["library_name"] == "m2t" and card["m2t"]["training"]["steps"] == 2

    described = run(venv, "m2t", "describe", "--checkpoint", str(checkpoint), "--wild-type", "MKTAYIAKQRQISFV",
                    "--mutation", "K2R", "--json", "generation.max_new_tokens=4", cwd=tmp_path)  # fmt: skip
    assert described.returncode == 0, described.stderr[-3000:]
    (result,) = json.loads(described.stdout)["results"]
    assert result["notation"] == "K2R (lysine to arginine at position 2)" and isinstance(result["description"], str)
    # the default encoder, UniRep-64: a real zero-shot score
    assert isinstance(result["effect"]["score"], float) and result["effect"]["method"] == "unirep-llr"
