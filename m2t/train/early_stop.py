"""Early stopping on val loss, and why a stage ended.

Each val loss (all-reduced, so every rank sees the same number and takes the same decision) either sets a new low
(the best so far: its checkpoint is reported, and that one is published) or adds one to the evals since the
low; with ``patience`` > 0 the stage ends once that count reaches ``patience``. The state travels in every
checkpoint, so a resumed or restarted run goes on counting where it stopped, and a run that already stopped stays
stopped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# The metric Ray Train ranks checkpoints by (lowest first): the val loss of a checkpoint that set a new low, infinity for
# any other, so the checkpoint of the current low is always among those kept (the latest is kept too).
LOW = "val_loss_low"
# Why a stage ended: val loss stopped improving, the configured steps were done, or the max_epochs cap was reached.
STOP_REASONS = ("patience", "steps", "max_epochs")


@dataclass(kw_only=True)
class EarlyStop:
    """The val-loss low so far and what followed it; ``stop_reason`` once the stage ended (else None)."""

    patience: int = 0
    best_val_loss: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    stop_reason: str | None = None

    @classmethod
    def restore(cls, *, patience: int, state: dict | None) -> EarlyStop:
        """From a checkpoint's saved :meth:`state` (None: a fresh stage), with the configured ``patience``."""
        return cls(patience=patience, **{k: v for k, v in (state or {}).items() if k != "patience"})

    def update(self, *, step: int, val_loss: float) -> bool:
        """Take the val loss of ``step``; True when it is a new low (the checkpoint to keep)."""
        if math.isfinite(val_loss) and (self.best_val_loss is None or val_loss < self.best_val_loss):
            self.best_val_loss, self.best_step, self.evals_since_best = val_loss, step, 0
            return True
        self.evals_since_best += 1
        return False

    @property
    def out_of_patience(self) -> bool:
        return self.patience > 0 and self.evals_since_best >= self.patience

    def state(self) -> dict:
        """JSON-safe state for a checkpoint."""
        return asdict(self)
