"""Stage handoff: which stage-1 checkpoint stage 2 starts from, and refusing one that does not fit."""

from __future__ import annotations

from pathlib import Path

from m2t.config import Config
from m2t.errors import MismatchError
from m2t.model.checkpoint import read_meta, require_checkpoint, stage_checkpoint, trained_config

# Model settings that may differ between the stages: they change how the LLM runs, not what the adapter is.
RUNTIME_ONLY = {"gradient_checkpointing", "dtype", "trust_remote_code"}


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def stage1_checkpoint(cfg: Config, init: str | Path | None = None) -> Path:
    """The checkpoint stage 2 starts from: ``init``, else ``outputs/pretrain/checkpoint`` of this config
    (:class:`m2t.errors.InputError` naming the command that makes one when it is not there)."""
    return require_checkpoint(
        init if init is not None else stage_checkpoint(cfg, "pretrain"),
        what="stage-1 checkpoint",
        fix="run `m2t pretrain` with the same config first, or pass --init DIR",
    )


def check_init(cfg: Config, init: str | Path, *, encoder_id: str, dim_in: int) -> dict:
    """The metadata of stage-1 checkpoint ``init`` if stage 2 of ``cfg`` can start from it.

    Raises :class:`m2t.errors.InputError` when ``init`` is not a checkpoint, and
    :class:`m2t.errors.MismatchError` listing every difference when it was trained for another
    encoder (``encoder_id``), embedding width, base LLM, or adapter / prompt settings.
    """
    init = stage1_checkpoint(cfg, init)
    meta = read_meta(init)
    # its config as this version reads it (settings added since it was saved take their defaults)
    saved, builder = trained_config(init, meta).model.model_dump(mode="json"), meta["builder"]
    diffs = []
    if meta["stage"] != "pretrain":
        diffs.append(
            f"stage: it is a {meta['stage']} (stage-2) checkpoint; stage 2 starts from a pretrain (stage-1) one"
        )
    if builder["encoder_id"] != encoder_id:
        diffs.append(f"encoder: checkpoint {builder['encoder_id']!r}, this run's embeddings {encoder_id!r}")
    if builder["dim_in"] != dim_in:
        diffs.append(f"embedding width: checkpoint {builder['dim_in']}, this run's embeddings {dim_in}")
    ours, theirs = _flatten(cfg.model.model_dump(mode="json")), _flatten(saved)
    for key in sorted(set(ours) | set(theirs)):
        if key.split(".")[0] in RUNTIME_ONLY or (key.startswith("tiny_llm.") and ours.get("llm") != "tiny"):
            continue
        if ours.get(key) != theirs.get(key):
            diffs.append(f"model.{key}: checkpoint {theirs.get(key)!r}, config {ours.get(key)!r}")
    if diffs:
        raise MismatchError(
            f"stage-1 checkpoint {init} does not match this config:\n  "
            + "\n  ".join(diffs)
            + "\nrun `m2t pretrain` with this config first, or pass --init with a matching "
            "checkpoint"
        )
    return meta
