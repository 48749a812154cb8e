"""A fault hook for ``run_stage(..., after_report=...)`` that hands the moment of a node loss to the test."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import ray
import ray.cloudpickle

# Ray workers do not have tests/ on their path: ship this module's code by value with the callable.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class HoldAfter:
    """Worker ``rank``, right after the report of ``step``, writes its Ray node id to ``marker`` and waits there (up to
    ``seconds``) for the test to take that node away; once: on the resumed run the marker exists and it goes on."""

    step: int
    rank: int
    marker: str
    seconds: float = 120.0

    def __call__(self, *, step: int, rank: int) -> None:
        if step != self.step or rank != self.rank:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, ray.get_runtime_context().get_node_id().encode())
        os.close(fd)
        time.sleep(self.seconds)
