"""The length of a stage and its learning-rate schedule.

A stage's step counts (``steps``, ``warmup_steps``, ``eval_every``, ``checkpoint_every``) are optimizer steps or
epochs of the train split (``'3 epochs'``); :func:`resolve_schedule` turns them into steps once the split's size is
known, and applies the ``max_epochs`` cap. The LR follows a linear warmup, then a cosine decay to ``min_lr_ratio``
of the peak over the resolved steps.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

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


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """The multiplier of the peak LR for optimizer step ``step`` (0-based).

    Warmup ramps ``(step + 1) / warmup_steps`` so the first step already moves; after it the factor
    follows a half cosine from 1 at ``warmup_steps`` to ``min_lr_ratio`` at ``total_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, *, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> LambdaLR:
    """A ``LambdaLR`` applying :func:`lr_factor` to every param group (DeepSpeed steps it once per optimizer step)."""

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio)

    return LambdaLR(optimizer, factor)
