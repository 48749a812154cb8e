"""A training run's MLflow run, from the driver: opened (or continued) before ``fit``, ended after it.

Its key is the Ray Train run directory (``<train.storage_path>/<run name>``), so a rerun of the same command,
which resumes that Ray Train run, continues the same MLflow run; restarted workers get the same run through
the loop config. Params: the validated config (dotted keys) and ``run.*`` (stage, Ray Train run name,
encoder id, embedding width, stage-1 checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from m2t.config import Config
from m2t.tracking import Tracker, flatten, open_run


def open_training_run(cfg: Config, *, stage: str, name: str, encoder_id: str, dim_in: int, init: Path | None):
    """The :class:`Tracker` of Ray Train run ``name``'s MLflow run (running), or None when tracking is off."""
    run = {"stage": stage, "ray_run": name, "encoder_id": encoder_id, "dim_in": dim_in, "init": init and str(init)}
    ref = open_run(
        cfg,
        name=name,
        key=f"{cfg.train.storage_path.rstrip('/')}/{name}",
        tags={"m2t.stage": stage},
        params={**flatten(cfg.model_dump(mode="json")), **flatten({"run": run})},
    )
    return Tracker(ref) if ref else None


@contextmanager
def ended_on_failure(tracker: Tracker | None) -> Iterator[None]:
    """Mark the run FAILED (KILLED on Ctrl-C) when the block raises; the exception goes on."""
    try:
        yield
    except BaseException as exc:
        if tracker is not None:
            tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise


def close_training_run(tracker: Tracker | None, *, summary: Path, checkpoint_meta: Path) -> None:
    """Upload the summary and the published checkpoint's description, and end the run FINISHED."""
    if tracker is not None:
        tracker.artifact(summary)
        tracker.artifact(checkpoint_meta, "checkpoint")
        tracker.finish()
