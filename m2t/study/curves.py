"""The study's training curves: every trained stage's val loss against epochs, in one PNG, each run's best step
(the checkpoint published) marked."""

from __future__ import annotations

import io
from pathlib import Path

from m2t.atomic import atomic_write_bytes
from m2t.train.metrics import read_metrics


def plot_val_loss(stages: dict[str, dict], out: Path) -> Path:
    """``stages``: name -> a stage's summary (``metrics``, ``schedule``, ``checkpoint_step``, ``stop_reason``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, summary in stages.items():
        per_epoch = summary["schedule"]["steps_per_epoch"]
        rows = [r for r in read_metrics(summary["metrics"]) if r.get("val_loss") is not None]
        (line,) = ax.plot(
            [r["step"] / per_epoch for r in rows],
            [r["val_loss"] for r in rows],
            "o-",
            markersize=3,
            label=f"{name} (stopped: {summary['stop_reason']})",
        )
        best = [r for r in rows if r["step"] == summary["checkpoint_step"]]
        if best:
            ax.plot([best[0]["step"] / per_epoch], [best[0]["val_loss"]], "*", markersize=12, color=line.get_color())
    ax.set_xlabel("epoch of the train split")
    ax.set_ylabel("val loss (nats/token)")
    ax.set_title("val loss per training run (star: the checkpoint used)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out
