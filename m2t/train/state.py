"""How a training worker writes and restores its part of a Ray Train checkpoint (layout: :mod:`m2t.model.checkpoint`).

A checkpoint holds the model checkpoint (adapter + LoRA, no base weights), DeepSpeed's resume state
(trainable weights, ZeRO-2 optimizer partitions per rank, LR scheduler, global step; saved with
``exclude_frozen_parameters=True``), each rank's RNG state (torch, CUDA, numpy, python) and a
human-readable train state. Every worker writes its part into its own temporary directory and reports
it; Ray Train merges the parts into one directory in ``train.storage_path``. DeepSpeed's files are
torch pickles: they are only ever read back from this run's own storage, never from user-supplied paths.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import numpy as np
import torch

from m2t.atomic import atomic_write_bytes
from m2t.config import Config
from m2t.model.checkpoint import RUN_DEEPSPEED, RUN_MODEL, RUN_RNG, RUN_STATE, save_checkpoint

TAG = "state"


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode()


def _tensor(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)


def rng_state() -> dict:
    """This process's RNG state as JSON-safe data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": _b64(torch.get_rng_state()),
        "cuda": [_b64(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(_tensor(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_tensor(s) for s in state["cuda"]])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save_state(
    engine,
    *,
    cfg: Config,
    out: Path,
    rank: int,
    info: dict,
    tracking: dict | None = None,
    neighbours: str | Path | None = None,
) -> None:
    """Write this rank's part of a checkpoint into ``out`` (all ranks must call it: DeepSpeed syncs).

    ``info`` (stage, step, epoch, val_loss, ...) goes into DeepSpeed's client state and the train state file;
    ``tracking`` (the MLflow run that trains it, and the step) into the model checkpoint's description;
    ``neighbours`` (the neighbour index file) into the model checkpoint.
    """
    engine.save_checkpoint(
        str(out / RUN_DEEPSPEED), tag=TAG, client_state={"m2t": info}, exclude_frozen_parameters=True
    )
    (out / RUN_RNG).mkdir(exist_ok=True)
    atomic_write_bytes(out / RUN_RNG / f"rank_{rank}.json", json.dumps(rng_state()).encode())
    if rank == 0:
        save_checkpoint(engine.module, cfg, out / RUN_MODEL, tracking=tracking, neighbours=neighbours)
        atomic_write_bytes(out / RUN_STATE, (json.dumps(info, indent=2) + "\n").encode())


def load_state(engine, *, ckpt: Path, rank: int) -> dict:
    """Restore optimizer, scheduler, step and trainable weights from ``ckpt`` into ``engine``, and this rank's
    RNG; returns the ``info`` saved with it."""
    path, client = engine.load_checkpoint(str(ckpt / RUN_DEEPSPEED), tag=TAG, load_module_strict=False)
    if path is None:
        raise RuntimeError(
            f"DeepSpeed found no resume state under {ckpt / RUN_DEEPSPEED}; the checkpoint is incomplete"
        )
    rng = ckpt / RUN_RNG / f"rank_{rank}.json"
    if rng.is_file():
        set_rng_state(json.loads(rng.read_text()))
    return client["m2t"]
