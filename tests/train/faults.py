"""Faults injected into a training run from the outside (``run_stage(..., after_report=...)``), not by the loop itself."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass

import ray.cloudpickle

# Ray workers do not have tests/ on their path: ship this module's code by value with the callable.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class KillAfter:
    """SIGKILL the process of worker ``rank`` right after the report of ``step``, once: the ``marker`` file it
    creates keeps it from firing again when the restarted run passes that step."""

    step: int
    rank: int
    marker: str

    def __call__(self, *, step: int, rank: int) -> None:
        if step == self.step and rank == self.rank and first_time(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)


def first_time(marker: str) -> bool:
    """Create ``marker``; False if it already exists."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
