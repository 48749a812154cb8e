"""How long a stage runs in optimizer steps: its step counts are steps or epochs of the train split (``'3 epochs'``);
:func:`resolve_schedule` turns them into steps once the split's size is known, and applies the ``max_epochs`` cap.
The trainer uses it to run a stage, the planner to size one (:mod:`m2t.plan.capacity`); the LR schedule over those
steps is :mod:`m2t.train.schedule`.
"""

from __future__ import annotations

import math

from m2t.config import StageConfig


def epoch_shape(stage: StageConfig, *, train_rows: int, workers: int) -> dict:
    """Samples and micro-batches of one epoch as the loop sees them: Ray Train splits the train set into equal
    shards (dropping the remainder), each worker cuts batches of micro_batch_size × group_by_length rows into
    micro-batches (the last batch of an epoch may be short)."""
    share, big = train_rows // workers, stage.micro_batch_size * stage.group_by_length
    micro = share // big * stage.group_by_length + math.ceil(share % big / stage.micro_batch_size)
    return {"samples": share * workers, "dropped": train_rows - share * workers, "micro_batches_per_worker": micro}


def in_steps(count: int | str, *, steps_per_epoch: float) -> int:
    """A step count of the config (an int, or ``'<x> epochs'``) in optimizer steps (epochs round up)."""
    if isinstance(count, int):
        return count
    return math.ceil(float(count.split()[0]) * steps_per_epoch - 1e-9)


def resolve_schedule(stage: StageConfig, *, train_rows: int, workers: int) -> tuple[StageConfig, dict]:
    """``stage`` with every step count in steps, and what it resolved to: ``steps_per_epoch``, ``steps`` and
    ``limit`` (``'max_epochs'`` when that cap shortened the stage, else ``'steps'``)."""
    micro = epoch_shape(stage, train_rows=train_rows, workers=workers)["micro_batches_per_worker"]
    per_epoch = max(micro, 1) / stage.grad_accum

    def steps(count: int | str) -> int:
        return in_steps(count, steps_per_epoch=per_epoch)

    total, limit = max(steps(stage.steps), 1), "steps"
    if stage.max_epochs is not None and (capped := max(steps(f"{stage.max_epochs} epochs"), 1)) < total:
        total, limit = capped, "max_epochs"
    resolved = stage.model_copy(
        update={
            "steps": total,
            "warmup_steps": steps(stage.warmup_steps),
            "eval_every": steps(stage.eval_every),
            "checkpoint_every": max(steps(stage.checkpoint_every), 1),
        }
    )
    return resolved, {"steps_per_epoch": round(per_epoch, 3), "steps": total, "limit": limit}
