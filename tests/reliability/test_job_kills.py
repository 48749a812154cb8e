"""Jobs SIGKILLed mid-run (real processes, each its own local Ray), then the same command again:

- the driver of `python jobs/pretrain.py`: the Ray processes it started go down with it, and the rerun resumes
  the same run from its last registered checkpoint, not from step 0; metrics.jsonl then holds every step exactly
  once, the final checkpoint loads, and the rerun continued the killed run's MLflow run (no second one);
- `python jobs/embed.py` (driver, Ray and encoder actors): the rerun encodes exactly the sequences the killed run
  had not stored, and the store then holds every distinct sequence once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from m2t.config import REPO_ROOT
from m2t.data.records import write_records
from m2t.data.synthetic import generate
from m2t.embed.store import EmbeddingStore
from m2t.model import load_checkpoint
from m2t.tracking import client as mlflow_client
from m2t.tracking import default_uri
from m2t.train.metrics import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
STEPS, EVERY = 16, 4


def session_procs(sid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of session ``sid``: the driver and the local Ray it started. Ray workers
    get their own process group, so the session, not the group, is what holds them all."""
    out = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (OSError, psutil.Error):
            continue
    return out


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (started by this test only) and wait up to 30 s for them."""
    procs = session_procs(sid)
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(procs, timeout=30)


def names(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(" ".join(proc.cmdline())[:80] or proc.name())
        except psutil.Error:
            continue
    return out


def registered_checkpoint(storage: Path) -> tuple[Path, int] | None:
    """(run dir, step) of the newest checkpoint Ray Train's controller has registered for the run, if any: the
    one a resume starts from (a ``checkpoint_*`` dir alone may not be registered yet)."""
    for snap in storage.glob("*/checkpoint_manager_snapshot.json"):
        try:
            results = json.loads(snap.read_text())["checkpoint_results"]
        except (OSError, ValueError, KeyError):
            continue  # being written
        if results:
            return snap.parent, results[-1]["metrics"]["step"]
    return None


@pytest.fixture
def job(tmp_path):
    """``job(args, log)`` starts ``python jobs/<args>`` in its own session with its own local Ray (it cannot find
    this session's in-process cluster or anyone else's): RAY_ADDRESS="" and a private, short RAY_TMPDIR (Ray puts
    sockets in it). Every process of every session started is SIGKILLed at teardown, and none may outlive that."""
    temp = Path(tempfile.mkdtemp(prefix="m2t-ray-", dir="/tmp"))
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_TMPDIR": str(temp), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    sessions: list[int] = []

    def start(args: list[str], log: str) -> subprocess.Popen:
        with open(tmp_path / log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        sessions.append(proc.pid)
        return proc

    yield start
    for sid in sessions:
        kill_session(sid)
    leftovers = [n for sid in sessions for n in names(session_procs(sid))]
    shutil.rmtree(temp, ignore_errors=True)
    assert not leftovers, f"outlived SIGKILL: {leftovers}"


def test_sigkilled_driver_reruns_into_a_resume_not_a_restart(tmp_path, job):
    root = tmp_path
    command = [
        "jobs/pretrain.py",
        f"output.root={root}",
        f"embed.store={root / 'embeddings'}",
        f"train.storage_path={root / 'ray'}",
        f"train.pretrain.steps={STEPS}",
        f"train.pretrain.checkpoint_every={EVERY}",
        f"train.pretrain.eval_every={EVERY}",
        "train.num_workers=2",
        "train.cpus_per_worker=0.5",
    ]  # 1 of the local Ray's 2 CPUs; rest: Ray Data

    # 1. First run (it also makes the splits and embeddings); SIGKILL the driver once a checkpoint is registered.
    driver = job(command, "first.log")
    deadline, seen = time.monotonic() + 420, None
    while driver.poll() is None and time.monotonic() < deadline and seen is None:
        seen = registered_checkpoint(root / "ray")
        time.sleep(0.05)
    if seen is None:
        pytest.fail(
            f"no checkpoint registered (driver exit code {driver.poll()}):\n" + (root / "first.log").read_text()[-3000:]
        )
    if driver.poll() is not None:
        pytest.skip("the run finished before its driver could be killed (machine too fast)")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    run_dir, seen_step = seen
    assert 0 < seen_step < STEPS

    # 2. The local Ray it started shares its fate: GCS, raylet and the training workers exit by themselves;
    #    only the dashboard / runtime-env agents may outlive it for a while (measured: up to about a minute).
    core = ("gcs_server", "raylet", "RayTrainWorker", "TrainController")
    deadline = time.monotonic() + 60
    while (
        left := [n for n in names(session_procs(driver.pid)) if any(c in n for c in core)]
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"still running 60 s after the driver was killed: {left}"
    kill_session(driver.pid)  # the lingering agents (killing them is what a user would do; not required)
    assert not session_procs(driver.pid)

    # 3. The same command again, to the end.
    rerun = job(command, "rerun.log")
    try:
        code = rerun.wait(timeout=420)
    except subprocess.TimeoutExpired:
        pytest.fail("the rerun did not finish in 420 s:\n" + (root / "rerun.log").read_text()[-3000:])
    assert code == 0, (root / "rerun.log").read_text()[-3000:]

    rows = read_metrics(root / "pretrain" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # every step exactly once
    resumed = {r["resumed_from"] for r in rows if r["resumed_from"]}
    assert len(resumed) == 1, [r["resumed_from"] for r in rows]  # one resume, not a restart from 0
    start_step = resumed.pop()
    assert seen_step <= start_step < STEPS and start_step % EVERY == 0  # a registered checkpoint's step
    assert [r["resumed_from"] for r in rows] == [0] * start_step + [start_step] * (STEPS - start_step)
    summary = json.loads((root / "pretrain" / "summary.json").read_text())
    assert summary["step"] == STEPS and summary["run_dir"] == str(run_dir)  # the same Ray Train run
    assert [p.name for p in (root / "ray").iterdir() if p.is_dir()] == [run_dir.name]
    client = mlflow_client(default_uri(root))
    runs = client.search_runs([summary["mlflow"]["experiment_id"]])
    assert [(r.info.run_id, r.info.status) for r in runs] == [(summary["mlflow"]["run_id"], "FINISHED")]
    logged = {m.step for m in client.get_metric_history(summary["mlflow"]["run_id"], "loss")}
    assert logged == set(range(1, STEPS + 1))  # the killed driver's steps and the rerun's, in one run
    model, cfg = load_checkpoint(root / "pretrain" / "checkpoint", stage="infer")
    assert cfg.train.pretrain.steps == STEPS and not model.training


def test_sigkilled_embed_job_reruns_into_exactly_the_missing_sequences(tmp_path, job):
    records = generate(n_proteins=20, mutants_per_protein=4, min_length=60, max_length=120, seed=3)
    distinct = list(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)))
    store_dir = tmp_path / "store"
    command = [
        "jobs/embed.py",
        "--input",
        str(write_records(tmp_path / "records.parquet", records)),
        "--output",
        str(store_dir),
        "embed.batch_sequences=1",
        "embed.num_actors=1",
    ]

    # 1. SIGKILL the whole job (driver, its Ray, the encoder actor) once it has published a few shards.
    first = job(command, "first.log")
    deadline, index = time.monotonic() + 300, store_dir / "index"
    while (
        first.poll() is None
        and time.monotonic() < deadline
        and not (index.is_dir() and len(list(index.glob("[!.]*.parquet"))) >= 3)
    ):
        time.sleep(0.05)
    if first.poll() is not None:
        pytest.skip(
            f"the job ended (exit code {first.returncode}) before it could be killed:\n"
            + (tmp_path / "first.log").read_text()[-2000:]
        )
    kill_session(first.pid)
    first.wait(timeout=30)  # (already reaped by kill_session)
    assert not session_procs(first.pid)
    stored = len(EmbeddingStore.open(store_dir))
    assert 3 <= stored < len(distinct)

    # 2. The same command again: only what the killed run had not stored is encoded.
    rerun = job(command, "rerun.log")
    assert rerun.wait(timeout=300) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    summary = json.loads((store_dir / "summary.json").read_text())
    assert (summary["unique_sequences"], summary["reused"], summary["encoded"]) == (
        len(distinct),
        stored,
        len(distinct) - stored,
    )
    assert summary["store_counts"]["sequences"] == len(distinct) and summary["store_counts"]["duplicates"] == 0
    store = EmbeddingStore.open(store_dir)
    assert store.missing(distinct) == [] and len(store) == len(distinct)  # each distinct sequence, once
