"""The driver side of a stage: datasets, the ``TorchTrainer``, and publishing its final checkpoint.

:func:`run_stage` is what ``jobs/pretrain.py`` and ``jobs/finetune.py`` call. The run is named
``<stage>-<fingerprint of the settings that shape training>`` (or ``train.run_name``) under
``train.storage_path``: rerunning the same command after a crash resumes that run (Ray Train V2),
while changed settings start a new one instead of resuming a run they do not describe. The run is
tracked in MLflow (:mod:`m2t.tracking`): its key is the Ray Train run directory, so a resumed run
continues its MLflow run; the driver logs the config and, at the end, the summary and the checkpoint's
``m2t_model.json``, and rank 0 logs each step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq
import ray
from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from m2t.atomic import atomic_write_bytes
from m2t.config import Config, ConfigError
from m2t.embed.stream import stream_embeddings
from m2t.errors import InputError, M2TError
from m2t.model.card import CARD
from m2t.model.checkpoint import META, RUN_MODEL, adapter_digest, read_train_state, stage_checkpoint
from m2t.placement import train_workers
from m2t.tracking import RunRef
from m2t.train.batches import ingest_options
from m2t.train.early_stop import LOW
from m2t.train.handoff import RUNTIME_ONLY, check_init, stage1_checkpoint
from m2t.train.inputs import Inputs, prepare_inputs
from m2t.train.loop import train_loop_per_worker
from m2t.train.metrics import read_metrics
from m2t.train.outcome import ended_run, first_measurement, published_checkpoint, read_checkpoint_state, scheduled
from m2t.train.publish import publish_checkpoint, training_facts
from m2t.train.tracked import close_training_run, ended_on_failure, open_training_run

log = logging.getLogger(__name__)
COLUMNS = ["id", "wild_type", "mutant", "description", "mutations", "protein_id", "protein_name", "function"]
POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"  # Ray Train V2 passes it from the driver to its controller


@contextmanager
def report_poll(seconds: float):
    """Run ``fit`` with the controller collecting reports every ``seconds`` (unless the user set the variable)."""
    if POLL_ENV in os.environ:
        yield
        return
    os.environ[POLL_ENV] = str(seconds)
    try:
        yield
    finally:
        os.environ.pop(POLL_ENV, None)


def run_name(cfg: Config, *, stage: str, init: Path | None, encoder_id: str) -> str:
    """``train.run_name``, else ``<stage>-<10 hex>`` hashing model, LoRA, encoder, data, seed, workers, the
    stage's schedule, the DeepSpeed file and (stage 2) the stage-1 adapter weights."""
    if cfg.train.run_name:
        return cfg.train.run_name
    model = {k: v for k, v in cfg.model.model_dump(mode="json").items() if k not in RUNTIME_ONLY}
    shaping = {
        "stage": stage,
        "model": model,
        "encoder_id": encoder_id,
        "data": cfg.data.model_dump(mode="json"),
        "seed": cfg.train.seed,
        "workers": cfg.train.num_workers,
        "schedule": getattr(cfg.train, stage).model_dump(mode="json"),
        "deepspeed": json.loads(Path(cfg.deepspeed.config).read_text()),
        "lora": cfg.lora.model_dump(mode="json") if stage == "finetune" else None,
        "init": adapter_digest(init) if init else None,
    }
    return f"{stage}-{hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:10]}"


def record_dataset(cfg: Config, path: Path, *, stream: bool) -> ray.data.Dataset:
    """The records of ``path`` for training (all with a description), embeddings joined when streaming."""
    missing = pq.read_table(path, columns=["description"]).column("description").null_count
    if missing:
        raise InputError(
            f"{path}: {missing} records have no description (mutation sets?); training needs the "
            f"target text of every record"
        )
    ds = ray.data.read_parquet(str(path), columns=COLUMNS)
    return stream_embeddings(cfg, ds) if stream else ds


def build_trainer(
    cfg: Config,
    *,
    stage: str,
    inputs: Inputs,
    out_dir: Path,
    init: Path | None,
    name: str,
    workers: dict,
    tracking: RunRef | None = None,
    after_report: Callable[..., None] | None = None,
    limit: str = "steps",
) -> TorchTrainer:
    """The ``TorchTrainer`` of one stage on ``workers`` (:func:`m2t.placement.train_workers`), logging to the
    MLflow run ``tracking`` (``after_report``, ``limit``: see :func:`train_loop_per_worker`); ``cfg``'s stage
    schedule is in steps (:func:`m2t.plan.epochs.resolve_schedule`)."""
    stream = cfg.embed.mode == "stream"
    datasets = {"train": record_dataset(cfg, inputs.train, stream=stream)}
    if inputs.val is not None:
        datasets["val"] = record_dataset(cfg, inputs.val, stream=stream)
    loop_config = {
        "config": cfg.model_dump(mode="json"),
        "stage": stage,
        "init": str(init) if init else None,
        "encoder_id": inputs.encoder_id,
        "dim_in": inputs.dim_in,
        "max_residues": inputs.max_residues,
        "store": None if stream else str(cfg.embed.store),
        "out_dir": str(out_dir),
        "has_val": inputs.val is not None,
        "neighbours": str(inputs.neighbours) if inputs.neighbours else None,
        "tracking": asdict(tracking) if tracking else None,
        "after_report": after_report,
        "limit": limit,
    }
    scored = {"checkpoint_score_attribute": LOW, "checkpoint_score_order": "min"} if inputs.val else {}
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(**workers),
        run_config=RunConfig(
            name=name,
            storage_path=str(cfg.train.storage_path),
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.train.keep_checkpoints, **scored),
            failure_config=FailureConfig(max_failures=cfg.train.max_failures),
        ),
        datasets=datasets,
        dataset_config=DataConfig(execution_options=ingest_options()),
    )


def run_stage(
    cfg: Config, *, stage: str, init: str | Path | None = None, after_report: Callable[..., None] | None = None
) -> dict:
    """Train ``stage`` (``pretrain`` or ``finetune``) on Ray Train and publish ``outputs/<stage>/checkpoint``.

    Prepares missing records / embeddings first (:func:`m2t.train.inputs.prepare_inputs`). Stage 2
    starts from ``init`` (default ``outputs/pretrain/checkpoint``), refused with
    :class:`m2t.errors.MismatchError` when it does not fit. A run that fails more than
    ``train.max_failures`` times raises :class:`m2t.errors.M2TError`; calling again resumes it.
    ``after_report`` runs on every worker after each step's report (tests and drills inject faults with it;
    see :func:`train_loop_per_worker`). Step counts given in epochs become steps for the train split's size. The
    checkpoint published is the best by val loss (the latest when there is no val split). Returns (and writes to
    ``outputs/<stage>/summary.json``) the run's summary: why it stopped, the published step, and the seconds of the
    invocation that trained it (a rerun of a finished run keeps them).
    """
    if stage == "pretrain" and not cfg.model.use_protein:
        raise ConfigError(
            "model.use_protein=false is a text-only model: it has no adapter for stage 1 to train; run "
            "stage 2 from a checkpoint of the untrained model (see jobs/study.py)"
        )
    started = time.time()
    out_dir = cfg.stage_dir(stage)
    init_dir = stage1_checkpoint(cfg, init) if stage == "finetune" else None  # fail fast, before preparing inputs
    stream = cfg.embed.mode == "stream"
    train_workers(cfg, encoder_pools=(1 + (cfg.data.val_fraction > 0)) * stream)  # refuse before preparing inputs
    inputs = prepare_inputs(cfg)
    cfg, schedule = scheduled(cfg, stage=stage, inputs=inputs)
    if init_dir is not None:
        check_init(cfg, init_dir, encoder_id=inputs.encoder_id, dim_in=inputs.dim_in)
    name = run_name(cfg, stage=stage, init=init_dir, encoder_id=inputs.encoder_id)
    log.info("%s: run %s in %s (rerunning this command resumes it)", stage, name, cfg.train.storage_path)
    workers = train_workers(cfg, encoder_pools=(1 + (inputs.val is not None)) * (cfg.embed.mode == "stream"))
    tracker = open_training_run(
        cfg, stage=stage, name=name, encoder_id=inputs.encoder_id, dim_in=inputs.dim_in, init=init_dir
    )
    result = ended_run(cfg.train.storage_path, name)
    if result is not None:
        log.warning("%s: run %s had already ended; nothing to train (its checkpoint is published again)", stage, name)
    with ended_on_failure(tracker), report_poll(cfg.train.report_poll_s):
        if result is None:
            trainer = build_trainer(
                cfg,
                stage=stage,
                inputs=inputs,
                out_dir=out_dir,
                init=init_dir,
                name=name,
                workers=workers,
                tracking=tracker and tracker.ref,
                after_report=after_report,
                limit=schedule["limit"],
            )
            try:
                result = trainer.fit()
            except ray.train.TrainingFailedError as exc:
                detail = "\n".join(str(exc).splitlines()[:4])
                raise M2TError(
                    f"{stage} run {name} failed after train.max_failures={cfg.train.max_failures} restarts; "
                    f"rerun the same command to resume from its last checkpoint in {cfg.train.storage_path}. "
                    f"Ray Train said:\n{detail}"
                ) from exc
    last = read_checkpoint_state(result.checkpoint)
    best = published_checkpoint(result, best_step=last.get("early_stop", {}).get("best_step"))
    with best.as_directory() as ckpt:
        state = read_train_state(ckpt)
        facts = training_facts(cfg, stage=stage, inputs=inputs, state=state, run_name=name)  # the published one's
        publish_checkpoint(cfg, Path(ckpt) / RUN_MODEL, stage=stage, training=facts)
    trained = sum(r.get("time", 0) >= started for r in read_metrics(out_dir / "metrics.jsonl"))
    summary = {
        "stage": stage,
        "run_name": name,
        "run_dir": result.path,
        "step": last["step"],  # the last step trained
        "stop_reason": last.get("early_stop", {}).get("stop_reason"),
        "schedule": schedule,
        "checkpoint_step": state["step"],  # the published checkpoint's: the best by val loss
        "worker_nodes": (result.metrics or {}).get("worker_nodes"),  # each rank's Ray node id (the last attempt)
        "val_loss": state.get("val_loss"),
        "checkpoint": str(stage_checkpoint(cfg, stage)),
        "model_card": str(stage_checkpoint(cfg, stage) / CARD),
        "ray_checkpoint": best.path,
        "init": str(init_dir) if init_dir else None,
        "metrics": str(out_dir / "metrics.jsonl"),
        "loss_curve": str(out_dir / "loss.png"),
        "mlflow": asdict(tracker.ref) if tracker else None,
        "trained_steps": trained,  # by this invocation (0: the run had already finished)
        "seconds": round(time.time() - started, 1),
    }
    summary["seconds"] = first_measurement(out_dir / "summary.json", summary)
    atomic_write_bytes(out_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    close_training_run(tracker, summary=out_dir / "summary.json", checkpoint_meta=stage_checkpoint(cfg, stage) / META)
    return summary
