"""Rank 0's training log: ``metrics.jsonl`` (one row per optimizer step) and ``loss.png``.

Rows are appended and flushed one per step. On (re)start the file is cut back to the steps the
restored checkpoint has seen, rewritten atomically, so after a failure or a resume the log holds
every step once, continuing where the checkpoint stopped; a torn last line (a kill mid-write) is
dropped then too.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from m2t.atomic import atomic_write_bytes

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
    """Append-only step log in ``out_dir``; create it on rank 0 only."""

    def __init__(self, *, out_dir: str | Path, start_step: int):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / METRICS
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= start_step] if start_step else []
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())
        self._fh = open(self.path, "a")  # noqa: SIM115  (kept open for the run; closed in close())

    def log(self, row: dict) -> None:
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

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
        return self.out_dir / LOSS_PNG
