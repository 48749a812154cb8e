"""An evaluation's MLflow run: the run that trained the checkpoint, when the tracking store has it.

The checkpoint's ``m2t_model.json`` names the run that trained it (``tracking``: uri, run id, step; written
by rank 0 with every training checkpoint). Its evaluation logs to that run, at that step, so the numbers sit
beside the loss curve; a checkpoint trained without tracking, or in another store, gets a run of its own.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from m2t.config import Config
from m2t.model.checkpoint import read_meta
from m2t.tracking import Tracker, find_run, flatten, open_run, tracking_uri

log = logging.getLogger(__name__)
UNSAFE = re.compile(r"[^\w./ -]")  # characters MLflow does not take in a metric name


def evaluation_run(cfg: Config, checkpoint: Path) -> tuple[Tracker | None, int | None]:
    """The MLflow run an evaluation of ``checkpoint`` logs to, and the training step to log at: the run that
    trained it (recorded in its ``m2t_model.json``) when this tracking store has it, else a new run (step None).
    ``(None, None)`` when tracking is off."""
    if tracking_uri(cfg) is None:
        return None, None
    trained = read_meta(checkpoint).get("tracking") or {}
    ref = find_run(cfg, trained["run_id"]) if trained.get("run_id") else None
    if ref is not None:
        return Tracker(ref), trained.get("step", 0)
    if trained:
        log.warning(
            "MLflow run %s (%s) that trained %s is not in %s; logging to a new evaluation run",
            trained["run_id"],
            trained["uri"],
            checkpoint,
            tracking_uri(cfg),
        )
    ref = open_run(
        cfg,
        name=f"evaluate-{checkpoint.parent.name}",
        key=None,
        tags={"m2t.stage": "evaluate", "m2t.checkpoint": str(checkpoint)},
        params=flatten({"checkpoint": str(checkpoint), "generation": cfg.generation.model_dump(mode="json")}),
    )
    return Tracker(ref), None


def log_evaluation(tracker: Tracker, *, step: int | None, files: dict, out: Path) -> None:
    """Log the metrics of every file (``eval/<file>/<metric>``, at ``step``) and upload ``report.md`` and
    ``metrics.json`` from ``out``; a run of its own (step None) is ended."""
    numbers = {
        f"eval/{UNSAFE.sub('_', name)}/{key}": value
        for name, metrics in files.items()
        for key, value in metrics.items()
        if key != "path"
    }
    tracker.metrics(numbers, step=step or 0)
    for name in ("report.md", "metrics.json"):
        tracker.artifact(out / name, "evaluate")
    if step is None:  # its own evaluation run: done
        tracker.finish()
    log.info("evaluation logged to MLflow run %s: %s", tracker.ref.run_id, tracker.ref.how_to_open())
