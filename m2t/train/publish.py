"""Publishing a stage's checkpoint: ``outputs/<stage>/checkpoint``, swapped in whole with its model card
(:mod:`m2t.model.card`), which says what the run trained on, for how long, and its val loss."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from m2t.atomic import publish_dir
from m2t.config import Config
from m2t.model.card import front_matter, write_card
from m2t.model.checkpoint import read_meta, stage_checkpoint
from m2t.train.inputs import Inputs


def _rows(path: Path | None) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path is not None and path.is_file() else 0


def training_facts(cfg: Config, *, stage: str, inputs: Inputs, state: dict, run_name: str) -> dict:
    """What the card says of a run: input files, rows per split, the split, steps, epochs, val loss."""
    schedule = getattr(cfg.train, stage)
    global_batch = schedule.micro_batch_size * schedule.grad_accum * cfg.train.num_workers
    rows = {
        "train": _rows(inputs.train),
        "val": _rows(inputs.val),
        "test": _rows(cfg.stage_dir("data") / "test.parquet"),
    }
    split = {"by": "protein", "val_fraction": cfg.data.val_fraction, "test_fraction": cfg.data.test_fraction}
    return {
        "run_name": run_name,
        "data": {
            "inputs": [str(p) for p in cfg.data.inputs],
            "rows": rows,
            "split": {**split, "seed": cfg.data.split_seed},
        },
        "steps": state["step"],
        "epochs": round(state["step"] * global_batch / max(rows["train"], 1), 2),
        "global_batch": global_batch,
        "val_loss": state.get("val_loss"),
    }


def publish_checkpoint(cfg: Config, model_dir: Path, *, stage: str, training: dict) -> Path:
    """Publish ``model_dir`` (the model checkpoint of the run's published Ray Train checkpoint: the lowest val loss)
    as ``stage``'s checkpoint, its ``README.md`` card (``training``: that checkpoint's facts) written into the copy
    before the swap: a reader never sees one without the other."""

    def card(copy: Path) -> None:
        write_card(copy, front_matter(read_meta(copy), copy, training=training))

    return publish_dir(model_dir, stage_checkpoint(cfg, stage), fill=card)
