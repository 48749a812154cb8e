"""What a stage's run is and ends with, on the driver: its schedule in steps, the checkpoint it publishes (the best by
val loss) and the seconds its summary keeps."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow.parquet as pq
import ray
import ray.train

from m2t.config import Config
from m2t.model.checkpoint import read_train_state
from m2t.plan.epochs import resolve_schedule
from m2t.train.inputs import Inputs

log = logging.getLogger(__name__)


def scheduled(cfg: Config, *, stage: str, inputs: Inputs) -> tuple[Config, dict]:
    """``cfg`` with ``stage``'s step counts in steps for the train split of ``inputs``, and what they resolved to."""
    rows = pq.ParquetFile(inputs.train).metadata.num_rows
    stage_cfg, schedule = resolve_schedule(getattr(cfg.train, stage), train_rows=rows, workers=cfg.train.num_workers)
    if stage_cfg.patience and inputs.val is None:
        log.warning(
            "%s: train.%s.patience=%d needs val loss, and there is none: no early stopping",
            stage,
            stage,
            stage_cfg.patience,
        )
    log.info(
        "%s: %d steps (%s; %.1f steps an epoch)",
        stage,
        schedule["steps"],
        schedule["limit"],
        schedule["steps_per_epoch"],
    )
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={stage: stage_cfg})}), schedule


def read_checkpoint_state(checkpoint: ray.train.Checkpoint) -> dict:
    """The ``train_state.json`` of a reported checkpoint."""
    with checkpoint.as_directory() as ckpt:
        return read_train_state(ckpt)


def ended_run(storage_path: str, name: str) -> ray.train.Result | None:
    """The result of run ``name`` under ``storage_path`` when it has already ended (its latest checkpoint says why it
    stopped), else None: rerunning a finished stage then starts no workers."""
    try:
        result = ray.train.Result.from_path(f"{str(storage_path).rstrip('/')}/{name}")
    except RuntimeError:  # no such run yet, or no checkpoint registered
        return None
    if result.checkpoint is None:
        return None
    return result if read_checkpoint_state(result.checkpoint).get("early_stop", {}).get("stop_reason") else None


def published_checkpoint(result: ray.train.Result, *, best_step: int | None) -> ray.train.Checkpoint:
    """The checkpoint to publish: the one at ``best_step`` (the val-loss low), else the latest (no val loss)."""
    for checkpoint, metrics in result.best_checkpoints or []:
        if best_step is not None and metrics.get("step") == best_step:
            return checkpoint
    if best_step is not None:
        log.warning("the checkpoint of the val-loss low (step %d) is gone: publishing the latest", best_step)
    return result.checkpoint


def first_measurement(path: Path, summary: dict) -> float:
    """This invocation's seconds, or, when it trained nothing (the run had finished), those of the invocation that
    did, from the summary it wrote."""
    if summary["trained_steps"] or not path.is_file():
        return summary["seconds"]
    before = json.loads(path.read_text())
    return before["seconds"] if before.get("run_name") == summary["run_name"] else summary["seconds"]
