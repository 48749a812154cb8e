"""Seconds per phase of the study, kept from the invocation that did the work: a rerun that finds a phase done (a
finished training run, cached predictions) leaves its seconds as they were."""

from __future__ import annotations

import json
from pathlib import Path

from m2t.atomic import atomic_write_text


class Timings:
    """``<out>/timings.json``: phase -> seconds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}

    def record(self, phase: str, seconds: float, *, did_work: bool) -> None:
        """Keep ``seconds`` for ``phase`` when this invocation did its work (or none was kept yet)."""
        if did_work or phase not in self.seconds:
            self.seconds[phase] = round(seconds, 1)
            atomic_write_text(self.path, json.dumps(self.seconds, indent=2) + "\n")
