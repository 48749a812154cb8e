"""Rank 0's training log: ``metrics.jsonl`` (one row per optimizer step), ``loss.png``, the MLflow run and a
progress line.

Rows are appended and flushed one per step. On (re)start the file is cut back to the steps the
restored checkpoint has seen, rewritten atomically, so after a failure or a resume the log holds
every step once, continuing where the checkpoint stopped; a torn last line (a kill mid-write) is
dropped then too. Each row's numbers also go to the MLflow run at the row's step (a resumed run logs
the steps it redoes again: MLflow keeps both values of such a step), and ``loss.png`` and
``metrics.jsonl`` become its artifacts at the end. The progress line (step, loss, samples/s, ETA) is
logged at most every ``progress_every_s`` seconds, and at the first and last step and each validation.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from m2t.atomic import atomic_write_bytes
from m2t.progress import Progress
from m2t.tracking import Tracker

log = logging.getLogger(__name__)
METRICS, LOSS_PNG = "metrics.jsonl", "loss.png"


def read_metrics(path: str | Path) -> list[dict]:
    """The complete rows of a ``metrics.jsonl`` (a torn last line is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: skipping a torn line (%d chars)", path, len(line))
    return rows


class MetricsWriter:
    """Append-only step log in ``out_dir``; create it on rank 0 only. ``tracker``: the MLflow run, or None;
    ``progress``: the progress line of the stage, or None for none."""

    def __init__(
        self, *, out_dir: str | Path, start_step: int, tracker: Tracker | None = None, progress: Progress | None = None
    ):
        self.tracker, self.progress = tracker, progress
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / METRICS
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= start_step] if start_step else []
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())
        self._fh = open(self.path, "a")  # noqa: SIM115  (kept open for the run; closed in close())

    def log(self, row: dict) -> None:
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        if self.tracker is not None:
            self.tracker.metrics({k: v for k, v in row.items() if k != "step"}, step=row["step"])
        if self.progress is not None:
            shown = {k: row.get(k) for k in ("loss", "val_loss", "lr", "samples_per_s")}
            if line := self.progress.update(row["step"], force="val_loss" in row, **shown):
                log.info(line)  # a Ray Train worker's log reaches the driver's console (a print would show twice)

    def close(self) -> None:
        self._fh.close()
        if self.tracker is not None:
            self.tracker.artifact(self.path)

    def plot(self) -> Path:
        """Write ``loss.png`` (train loss per step, val loss where evaluated) atomically; returns its path."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = read_metrics(self.path)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train loss", linewidth=1)
        val = [r for r in rows if r.get("val_loss") is not None]
        if val:
            ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val loss")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.set_title(self.out_dir.name)
        ax.legend()
        ax.grid(alpha=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(self.out_dir / LOSS_PNG, buf.getvalue())
        if self.tracker is not None:
            self.tracker.artifact(self.out_dir / LOSS_PNG)
        return self.out_dir / LOSS_PNG
