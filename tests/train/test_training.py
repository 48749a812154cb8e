"""Both stages for real on Ray Train + DeepSpeed ZeRO-2 (2 CPU workers, tiny models, synthetic data):
a stopped run resumes, a killed worker recovers, loss goes down, stage handoff and its refusal,
`ray job submit` against a real head, and each run tracked in MLflow (stage 1 in the default SQLite store, read back
through a real `mlflow server` on it, stage 2 on a real `mlflow server`, the submitted job with tracking off) with
its evaluation on the same run."""

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from faults import KillAfter
from safetensors.torch import load_file

from m2t.config import REPO_ROOT, load_config
from m2t.errors import M2TError, MismatchError, PlacementError
from m2t.infer.evaluate import evaluate
from m2t.model import build_model, load_checkpoint, read_meta
from m2t.model.card import read_card
from m2t.plan.epochs import epoch_shape
from m2t.tracking import client as mlflow_client
from m2t.tracking import default_uri, flatten
from m2t.train.batches import BatchMaker
from m2t.train.inputs import prepare_inputs
from m2t.train.metrics import read_metrics
from m2t.train.trainer import run_stage

pytestmark = pytest.mark.slow
STEPS = 12


def tiny(root: Path, store: Path, *extra: str):
    """The tiny default writing under ``root``, sharing one embedding store."""
    return load_config(
        None,
        [
            f"output.root={root}",
            f"embed.store={store}",
            f"train.storage_path={root / 'ray'}",
            f"train.pretrain.steps={STEPS}",
            "train.pretrain.checkpoint_every=6",
            "train.pretrain.eval_every=6",
            f"train.finetune.steps={STEPS}",
            "train.finetune.checkpoint_every=6",
            "train.finetune.eval_every=6",
            *extra,
        ],
    )


def val_loss(model, cfg, root: Path) -> float:
    """Mean token cross-entropy of ``model`` on the val split, one batch, computed outside Ray."""
    table = pq.read_table(root / "data" / "val.parquet", columns=["id", "wild_type", "mutant", "description"])
    rows = {k: np.array(v, dtype=object) for k, v in table.to_pydict().items()}
    batch = BatchMaker(tokenizer=model.tokenizer, model_cfg=cfg.model, store=str(cfg.embed.store))(rows)
    model.eval()
    with torch.no_grad():
        return float(model(**batch).loss)


@pytest.fixture(scope="module")
def data(ray_cluster, tmp_path_factory):
    """Splits and an embedding store made the way the jobs make them when they are missing."""
    root = tmp_path_factory.mktemp("train_data")
    cfg = tiny(root, root / "embeddings")
    inputs = prepare_inputs(cfg)  # synthetic set -> split -> embed on Ray Data
    assert inputs.val is not None and inputs.encoder_id == "unirep:64"
    return root


def rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def mlflow_run(uri: str, name: str):
    """``(client, run)``: the one run named ``name`` in experiment m2t of the store ``uri``."""
    client = mlflow_client(uri)
    runs = client.search_runs([client.get_experiment_by_name("m2t").experiment_id], f"attributes.run_name = '{name}'")
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return client, runs[0]


def latest_per_step(client, run_id: str, key: str) -> dict[int, float]:
    """The metric ``key`` of a run, step -> the value logged last (a resumed run logs the steps it redoes again)."""
    return {m.step: m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.timestamp)}


def check_tracked(client, run, *, cfg, root: Path, stage: str, summary: dict) -> None:
    """The MLflow run of a training stage: finished, with the config as params, every metrics.jsonl row at its
    step, the artifacts, and named by the summary and the published checkpoint."""
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert set(flatten(cfg.model_dump(mode="json"))) <= set(params)
    assert (params["run.stage"], params["run.ray_run"], params[f"train.{stage}.steps"]) == (
        stage,
        summary["run_name"],
        str(STEPS),
    )
    rows = read_metrics(root / stage / "metrics.jsonl")
    for key in ("loss", "val_loss", "lr", "samples_per_s"):
        expected = {r["step"]: r[key] for r in rows if key in r}
        assert latest_per_step(client, run.info.run_id, key) == pytest.approx(expected), key
    artifacts = {a.path for folder in (None, "checkpoint") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"loss.png", "metrics.jsonl", "summary.json", "checkpoint/m2t_model.json"} <= artifacts
    assert summary["mlflow"]["run_id"] == run.info.run_id
    assert read_meta(root / stage / "checkpoint")["tracking"] == {
        "backend": "mlflow",
        **summary["mlflow"],
        "step": STEPS,
    }


def check_evaluation_on(client, run_id: str, metrics: dict) -> None:
    """An evaluation's numbers and report on the training run, at its last step."""
    for name, scores in metrics["files"].items():
        logged = client.get_metric_history(run_id, f"eval/{name}/bleu4")
        assert [(m.step, m.value) for m in logged] == [(STEPS, pytest.approx(scores["bleu4"]))]
    assert {a.path for a in client.list_artifacts(run_id, "evaluate")} == {
        "evaluate/report.md",
        "evaluate/metrics.json",
    }


def fresh_root(factory, data: Path, name: str) -> Path:
    """A new output root holding a copy of the splits (the embedding store is shared)."""
    root = factory.mktemp(name)
    shutil.copytree(data / "data", root / "data")
    return root


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory):
    """Stage 1 as a user may live it (checkpoints every 4 steps): with train.max_failures=0 a worker killed
    after step 7 stops the run; the same call again resumes it, and with max_failures=3 a worker killed after
    step 11 is replaced and training goes on from checkpoint 8. (The kills come a few steps after a checkpoint:
    Ray Train resumes from the last checkpoint its controller has registered, which lags the report a little.)"""
    root = fresh_root(tmp_path_factory, data, "stages")
    cfg = tiny(root, data / "embeddings", "train.pretrain.checkpoint_every=4", "train.pretrain.eval_every=4")
    strict = cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_failures": 0})})
    with pytest.raises(M2TError, match="rerun the same command to resume") as stopped:
        run_stage(strict, stage="pretrain", after_report=KillAfter(step=7, rank=1, marker=str(root / "kill-1")))
    tolerant = cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_failures": 3})})
    summary = run_stage(
        tolerant, stage="pretrain", after_report=KillAfter(step=11, rank=0, marker=str(root / "kill-2"))
    )
    yield cfg, root, summary, stopped.value


def test_a_stopped_run_resumes_and_a_killed_worker_recovers(pretrained):
    cfg, root, summary, stopped = pretrained
    assert "train.max_failures=0" in str(stopped)
    rows = read_metrics(root / "pretrain" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # every step once, to the configured total
    if (root / "kill-1").exists():  # (a spurious restart by Ray could have stopped the first call earlier)
        assert [r["resumed_from"] for r in rows[:8]] == [0] * 4 + [4] * 4  # the rerun redid 5.. from checkpoint 4
    assert (root / "kill-2").exists() and [r["resumed_from"] for r in rows[8:]] == [8] * 4  # replaced worker: from 8
    assert summary["step"] == STEPS and Path(summary["run_dir"]).name == summary["run_name"]
    kept = [k for k in Path(summary["run_dir"]).glob("checkpoint_*") if k.is_dir()]
    assert 1 <= len(kept) <= cfg.train.keep_checkpoints
    assert STEPS in {json.loads((k / "train_state.json").read_text())["step"] for k in kept}  # the latest is kept
    published = load_file(root / "pretrain" / "checkpoint" / "adapter.safetensors")
    for k in kept:  # every checkpoint on disk loads: its model, and DeepSpeed's resume state of both ranks
        step = json.loads((k / "train_state.json").read_text())["step"]
        model, _ = load_checkpoint(k / "model", stage="pretrain")
        assert sorted(p.name for p in (k / "rng").iterdir()) == ["rank_0.json", "rank_1.json"]
        assert sorted(
            p.name[:14]
            for p in (k / "deepspeed" / "state").glob("zero_pp_rank_*_optim_states.pt")
            if p.stat().st_size > 0
        ) == ["zero_pp_rank_0", "zero_pp_rank_1"]
        if step == summary["checkpoint_step"]:  # published: the checkpoint of the lowest val loss
            assert all(torch.equal(t, published[n]) for n, t in model.adapter.state_dict().items())
    assert summary["checkpoint_step"] in {json.loads((k / "train_state.json").read_text())["step"] for k in kept}


def test_stage1_trains_the_adapter_and_lowers_val_loss(pretrained):
    cfg, root, summary, _ = pretrained
    out = root / "pretrain"
    rows = read_metrics(out / "metrics.jsonl")
    for r in rows:
        assert (
            r["loss"] > 0 and r["lr"] > 0 and r["grad_norm"] >= 0 and r["tokens_per_s"] > 0 and r["samples_per_s"] > 0
        )
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8, 12]
    # on the fixed val split (train losses of length-grouped micro-batches differ by their texts' lengths)
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert vals[-1] < vals[0], vals
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    ckpt = out / "checkpoint"
    assert sorted(p.name for p in ckpt.iterdir()) == ["README.md", "adapter.safetensors", "m2t_model.json", "tokenizer"]
    assert read_meta(ckpt)["builder"]["encoder_id"] == "unirep:64"
    card = read_card(ckpt)  # the model card the publish wrote with the checkpoint: what trained it, on what
    train_rows = pq.ParquetFile(root / "data" / "train.parquet").metadata.num_rows
    assert card["m2t"]["training"]["steps"] == summary["step"] == STEPS and card["datasets"] == ["synthetic"]
    assert card["m2t"]["training"]["val_loss"] == pytest.approx(summary["val_loss"]) and card["metrics"] == ["loss"]
    assert card["m2t"]["training"]["data"]["rows"]["train"] == train_rows
    batch = cfg.train.pretrain.micro_batch_size * cfg.train.pretrain.grad_accum * cfg.train.num_workers
    assert card["m2t"]["training"]["epochs"] == round(STEPS * batch / train_rows, 2)
    assert card["m2t"]["lora"] is None and summary["model_card"] == str(ckpt / "README.md")
    trained, _ = load_checkpoint(ckpt, stage="infer")
    untrained = build_model(cfg, stage="pretrain", dim_in=64)  # gates closed: the LLM alone
    before, after = val_loss(untrained, cfg, root), val_loss(trained, cfg, root)
    assert after < before - 0.02, (before, after)
    assert summary["val_loss"] == pytest.approx(min(vals)) and summary["stop_reason"] == "steps"


def test_stage1_is_one_mlflow_run_through_its_stop_rerun_and_restart_and_evaluate_logs_to_it(pretrained):
    """The default store, <output.root>/mlflow.db: the stopped call, its rerun and the replaced worker (the driver
    and rank 0 of each worker group writing to one SQLite file) all log into one MLflow run; an evaluation of the
    checkpoint lands on it, at the checkpoint's step."""
    cfg, root, summary, _ = pretrained
    assert summary["mlflow"]["uri"] == default_uri(root) and not (root / "mlruns").exists()
    client, run = mlflow_run(default_uri(root), summary["run_name"])
    check_tracked(client, run, cfg=cfg, root=root, stage="pretrain", summary=summary)
    assert len(client.get_metric_history(run.info.run_id, "loss")) > STEPS  # the redone steps, logged again
    evaluated = tiny(root, cfg.embed.store, "generation.max_new_tokens=4")
    metrics = evaluate(evaluated, checkpoint=root / "pretrain" / "checkpoint", data=None, output=root / "eval1")
    assert metrics["mlflow"] == summary["mlflow"]
    check_evaluation_on(client, run.info.run_id, metrics)
    assert len(client.search_runs([run.info.experiment_id])) == 1  # no second run for the evaluation


def test_stage1_reads_back_through_a_real_mlflow_server_on_the_default_sqlite_store(pretrained, mlflow_server_on):
    """What `mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db` shows (docs/train.md), through the REST API
    of a real `mlflow server` on that file: the run, its params, each step's loss, and loss.png."""
    cfg, root, summary, _ = pretrained
    run_id = summary["mlflow"]["run_id"]

    def get(url: str, endpoint: str, **query: str) -> bytes:
        with urllib.request.urlopen(f"{url}/{endpoint}?{urllib.parse.urlencode(query)}", timeout=30) as answer:
            return answer.read()

    with mlflow_server_on(f"sqlite:///{root / 'mlflow.db'}", root) as url:
        run = json.loads(get(url, "api/2.0/mlflow/runs/get", run_id=run_id))["run"]
        history = json.loads(get(url, "api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key="loss"))
        listed = json.loads(get(url, "api/2.0/mlflow/artifacts/list", run_id=run_id))
        png = get(url, "get-artifact", run_uuid=run_id, path="loss.png")
    assert (run["info"]["run_name"], run["info"]["status"]) == (summary["run_name"], "FINISHED")
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    config = flatten(cfg.model_dump(mode="json"))
    config["train.max_failures"] = "0"  # the first call's (stopped) value: MLflow params never change
    assert {k: params.get(k) for k in config} == config and params["run.stage"] == "pretrain"
    expected = {r["step"]: r["loss"] for r in read_metrics(root / "pretrain" / "metrics.jsonl")}
    logged = {m["step"]: m["value"] for m in sorted(history["metrics"], key=lambda m: m["timestamp"])}
    assert logged == pytest.approx(expected) and sorted(logged) == list(range(1, STEPS + 1))
    assert "loss.png" in {f["path"] for f in listed["files"]}
    assert png[:4] == b"\x89PNG" and png == (root / "pretrain" / "loss.png").read_bytes()


@pytest.fixture(scope="module")
def finetuned(pretrained, mlflow_server):
    """Stage 2 with the embeddings streamed from encoder actors (embed.mode=stream) instead of read from the
    store, tracked on a real MLflow server given by MLFLOW_TRACKING_URI."""
    cfg, root, _, _ = pretrained
    crowded = tiny(root, cfg.embed.store, "embed.mode=stream", "train.finetune.log_generations=2")
    with pytest.raises(PlacementError, match=r"leave no node the whole CPU that each of Ray Data's read tasks asks"):
        # 2 × 0.5 + 2 pools × 0.5 of 2 CPUs
        run_stage(crowded, stage="finetune")
    cfg = tiny(
        root,
        cfg.embed.store,
        "embed.mode=stream",
        "train.finetune.log_generations=2",
        "train.cpus_per_worker=0.25",
        "embed.cpus_per_actor=0.25",
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        summary = run_stage(cfg, stage="finetune")  # default init: outputs/pretrain/checkpoint of this root
    return cfg, root, summary


def test_stage2_starts_from_stage1_and_lowers_val_loss(finetuned):
    """(The crowded stream-mode plan it first refuses: the finetuned fixture.)"""
    cfg, root, summary = finetuned
    assert summary["init"] == str(root / "pretrain" / "checkpoint") and summary["step"] == STEPS
    rows = read_metrics(root / "finetune" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert np.mean([r["loss"] for r in rows[-3:]]) < rows[0]["loss"] - 0.1
    generations = [g for r in rows for g in r.get("generations", [])]
    assert len(generations) == 4 and all(g["reference"] and isinstance(g["generated"], str) for g in generations)
    ckpt = root / "finetune" / "checkpoint"
    assert (ckpt / "lora" / "adapter_model.safetensors").is_file() and read_meta(ckpt)["stage"] == "finetune"
    card = read_card(ckpt)["m2t"]
    assert card["lora"]["r"] == cfg.lora.r and card["training"]["steps"] == STEPS and card["stage"] == "finetune"
    stage1, _ = load_checkpoint(root / "pretrain" / "checkpoint", stage="infer")
    stage2, _ = load_checkpoint(ckpt, stage="infer")
    before, after = val_loss(stage1, cfg, root), val_loss(stage2, cfg, root)
    assert after < before - 0.1, (before, after)


def test_stage2_and_its_evaluation_are_tracked_on_a_real_mlflow_server(finetuned, mlflow_server, monkeypatch):
    cfg, root, summary = finetuned
    assert summary["mlflow"]["uri"] == mlflow_server
    client, run = mlflow_run(mlflow_server, summary["run_name"])
    check_tracked(client, run, cfg=cfg, root=root, stage="finetune", summary=summary)
    assert not mlflow_client(default_uri(root)).search_runs(  # nothing of stage 2 in the default store
        [run.info.experiment_id], f"attributes.run_name = '{summary['run_name']}'"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    evaluated = tiny(root, cfg.embed.store, "generation.max_new_tokens=4")
    metrics = evaluate(evaluated, checkpoint=root / "finetune" / "checkpoint", data=None, output=root / "eval2")
    assert metrics["mlflow"] == summary["mlflow"]
    card = read_card(root / "finetune" / "checkpoint")  # the evaluation joins the training in the model card
    assert (
        set(card["m2t"]["evaluation"]["files"]) == set(metrics["files"]) and card["m2t"]["training"]["steps"] == STEPS
    )
    check_evaluation_on(client, run.info.run_id, metrics)


def test_stage2_refuses_a_mismatched_stage1_checkpoint(pretrained):
    cfg, root, _, _ = pretrained
    other = tiny(root, cfg.embed.store, "model.resampler.depth=1", "model.projector=linear")
    with pytest.raises(MismatchError) as err:
        run_stage(other, stage="finetune")
    assert "model.resampler.depth: checkpoint 2, config 1" in str(err.value)
    assert "model.projector: checkpoint 'mlp2x_gelu', config 'linear'" in str(err.value)


def test_early_stopping_publishes_the_best_checkpoint_and_a_rerun_keeps_the_result(data, tmp_path_factory):
    """Stage 1 for '3 epochs' with patience 2, evaluating every 2 steps, at a learning rate too small to move any
    weight's value: val loss never goes below its first value, so the run stops at step 6 (evals at 4 and 6 set no
    new low), on both workers together, and publishes the checkpoint of step 2. Rerunning the command trains
    nothing and keeps the first invocation's seconds."""
    root = fresh_root(tmp_path_factory, data, "early_stop")
    cfg = tiny(
        root,
        data / "embeddings",
        "train.pretrain.steps=3 epochs",
        "train.pretrain.patience=2",
        "train.pretrain.eval_every=2",
        "train.pretrain.checkpoint_every=100",
        "train.pretrain.lr=1e-30",
        "train.pretrain.warmup_steps=0",
        "train.keep_checkpoints=1",
    )
    summary = run_stage(cfg, stage="pretrain")
    per_epoch = epoch_shape(cfg.train.pretrain, train_rows=rows(root / "data" / "train.parquet"), workers=2)
    assert summary["schedule"]["steps"] == 3 * per_epoch["micro_batches_per_worker"] > 6
    assert (summary["step"], summary["stop_reason"], summary["checkpoint_step"]) == (6, "patience", 2)
    metrics = read_metrics(root / "pretrain" / "metrics.jsonl")
    assert [r["step"] for r in metrics if "val_loss" in r] == [2, 4, 6]
    assert len({r["val_loss"] for r in metrics if "val_loss" in r}) == 1
    assert metrics[-1] | {"stop_reason": "patience", "best_step": 2} == metrics[-1]
    kept = {
        json.loads((k / "train_state.json").read_text())["step"]: k
        for k in Path(summary["run_dir"]).glob("checkpoint_*")
        if k.is_dir()
    }
    assert sorted(kept) == [2, 6]  # the best (keep_checkpoints=1) and the latest
    published = load_file(root / "pretrain" / "checkpoint" / "adapter.safetensors")
    best, latest = (load_file(kept[s] / "model" / "adapter.safetensors") for s in (2, 6))
    assert all(torch.equal(t, best[n]) for n, t in published.items())
    assert not all(torch.equal(t, latest[n]) for n, t in published.items())  # the gate moved by ~1e-30 a step
    again = run_stage(cfg, stage="pretrain")
    assert (again["step"], again["stop_reason"], again["checkpoint_step"], again["trained_steps"]) == (
        6,
        "patience",
        2,
        0,
    )
    assert again["seconds"] == summary["seconds"] and len(read_metrics(root / "pretrain" / "metrics.jsonl")) == 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_job_submit_runs_pretrain_on_a_real_head(data, tmp_path, user_shell_env):
    """The commands of docs/cluster.md (From a plain shell) with a user's environment, nothing inherited from this
    process's own Ray: `export RAY_AUTH_MODE=token`, `ray get-auth-token --generate`, `ray start --head --block` on
    free ports (own temp dir: no other cluster is touched), then `ray job submit --working-dir . -- python
    jobs/pretrain.py`; without RAY_AUTH_MODE the job API answers 401 (missing token). SIGTERM to `ray start` stops
    only that head. A first job with the default relative paths is refused: they resolve inside Ray's unpacked
    working directory, which Ray deletes. The job that runs has absolute paths and tracking off, its tracking URI
    (in the config and the head's environment) a listening socket: nothing connects to it and no MLflow store
    appears."""
    root = tmp_path
    shutil.copytree(data / "data", root / "data")
    temp = Path(tempfile.mkdtemp(prefix="m2t-ray-", dir="/tmp"))  # short: Ray puts sockets in it
    port, dash, agent = _free_port(), _free_port(), _free_port()
    ray_bin = str(Path(sys.executable).parent / "ray")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    not_a_server = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {
        **user_shell_env,
        "RAY_AUTH_MODE": "token",
        "MLFLOW_TRACKING_URI": not_a_server,
    }  # docs: export RAY_AUTH_MODE=token
    token = subprocess.run([ray_bin, "get-auth-token", "--generate"], env=env, capture_output=True, text=True)
    assert token.returncode == 0 and token.stdout.strip(), token.stderr[-2000:]
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--dashboard-port={dash}",
            f"--dashboard-agent-listen-port={agent}",  # its default (52365) may belong to another head
            f"--ray-client-server-port={_free_port()}",  # and so may this one's (10001)
            "--num-cpus=2",
            "--include-dashboard=true",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def job(command: str, *args: str, timeout: float = 60, shell: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [ray_bin, "job", command, "--address", f"http://127.0.0.1:{dash}", *args],
            cwd=REPO_ROOT,
            env=shell or env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    overrides = [
        f"output.root={root}",
        f"embed.store={data / 'embeddings'}",
        f"train.storage_path={root / 'ray'}",
        "train.pretrain.steps=4",
        "train.pretrain.checkpoint_every=2",
        "tracking.backend=none",
        f"tracking.uri={not_a_server}",
    ]

    def submit(name: str, *args: str) -> subprocess.CompletedProcess:
        """`ray job submit --working-dir . -- python jobs/pretrain.py ARGS`, retried while the job API comes up."""
        command = ["--submission-id", name, "--working-dir", ".", "--", "python", "jobs/pretrain.py", *args]
        deadline = time.time() + 180
        while True:
            done = job("submit", *command, timeout=420)
            starting = "No available agent" in done.stderr or "onnect" in done.stderr
            if not (done.returncode and starting and time.time() < deadline and head.poll() is None):
                return done
            time.sleep(2)  # the job API, then its agent, come up a little after `ray start`

    try:
        relative = submit(f"m2t-relative-{port}", "tracking.backend=none")
        logs = job("logs", f"m2t-relative-{port}").stdout
        assert relative.returncode != 0 and "failed" in job("status", f"m2t-relative-{port}").stdout.lower()
        refusal = [line for line in logs.splitlines() if line.startswith("error: ")]
        assert len(refusal) == 1 and "Traceback" not in logs, logs[-3000:]
        assert "lies inside Ray's unpacked copy of the job's working directory" in refusal[0]
        assert "/runtime_resources/working_dir_files/_ray_pkg_" in refusal[0] and "absolute path" in refusal[0]
        submit_ = submit(f"m2t-{port}", *overrides)
        assert "succeeded" in job("status", f"m2t-{port}").stdout, submit_.stdout[-3000:] + submit_.stderr[-3000:]
        unauthenticated = job("list", shell=user_shell_env)  # a shell without RAY_AUTH_MODE sends no token
        assert unauthenticated.returncode != 0 and "Missing authentication token" in unauthenticated.stderr  # a 401
        summary = json.loads((root / "pretrain" / "summary.json").read_text())
        assert summary["step"] == 4 and (root / "pretrain" / "checkpoint" / "adapter.safetensors").is_file()
        assert [r["step"] for r in read_metrics(root / "pretrain" / "metrics.jsonl")] == [1, 2, 3, 4]
        assert summary["mlflow"] is None and "tracking" not in read_meta(root / "pretrain" / "checkpoint")
        assert not (root / "mlruns").exists() and not (root / "mlflow.db").exists()
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
