"""A stage's learning-rate schedule: a linear warmup, then a cosine decay to ``min_lr_ratio`` of the peak over the
stage's steps (resolved from epochs by :func:`m2t.plan.epochs.resolve_schedule`).
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


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
