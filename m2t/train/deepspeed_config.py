"""The DeepSpeed JSON with its ``"auto"`` values filled from our config.

``jobs/configs/zero2.json`` leaves the batch sizes, clipping and precision as ``"auto"``; they come
from ``train.<stage>`` and the hardware. A value the file sets explicitly must agree with ours, or
the run would silently train with other settings than the config says.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from m2t.config import ConfigError, StageConfig

AUTO = "auto"


def _fill(ds: dict, key: str, ours: Any, *, source: str, ours_name: str) -> None:
    value = ds.get(key, AUTO)
    if value == AUTO:
        ds[key] = ours
    elif value != ours:
        raise ConfigError(
            f"{source}: '{key}' is {value!r} but {ours_name} gives {ours!r}; set it to \"auto\" "
            f"(filled from the m2t config) or make the two agree"
        )


def fill_deepspeed_config(ds_config: dict | str | Path, *, stage_cfg: StageConfig, world_size: int, bf16: bool) -> dict:
    """A complete DeepSpeed config dict: ``ds_config`` (a dict or a JSON path) with ``"auto"`` resolved.

    Fills ``train_micro_batch_size_per_gpu`` (``micro_batch_size``), ``gradient_accumulation_steps``
    (``grad_accum``), ``train_batch_size`` (their product times ``world_size``), ``gradient_clipping``
    (``grad_clip``) and ``bf16.enabled`` (``bf16``: True on GPU, False for fp32 on CPU). Refuses an
    ``"optimizer"`` or ``"scheduler"`` block: m2t passes a torch AdamW and a warmup + cosine LambdaLR.
    """
    source = str(ds_config) if not isinstance(ds_config, dict) else "deepspeed config"
    ds = copy.deepcopy(ds_config) if isinstance(ds_config, dict) else json.loads(Path(ds_config).read_text())
    for block in ("optimizer", "scheduler"):
        if block in ds:
            raise ConfigError(
                f"{source}: remove the '{block}' block; m2t builds a torch AdamW and a warmup + cosine "
                f"schedule from train.<stage> (lr, warmup_steps, min_lr_ratio, weight_decay)"
            )
    _fill(
        ds,
        "train_micro_batch_size_per_gpu",
        stage_cfg.micro_batch_size,
        source=source,
        ours_name="train.<stage>.micro_batch_size",
    )
    _fill(ds, "gradient_accumulation_steps", stage_cfg.grad_accum, source=source, ours_name="train.<stage>.grad_accum")
    _fill(
        ds,
        "train_batch_size",
        stage_cfg.micro_batch_size * stage_cfg.grad_accum * world_size,
        source=source,
        ours_name="micro_batch_size × grad_accum × train.num_workers",
    )
    _fill(ds, "gradient_clipping", stage_cfg.grad_clip, source=source, ours_name="train.<stage>.grad_clip")
    ds["bf16"] = dict(ds.get("bf16") or {})
    _fill(ds["bf16"], "enabled", bf16, source=source, ours_name="the hardware (bf16 on GPU, fp32 on CPU)")
    if bf16 and (ds.get("fp16") or {}).get("enabled") is True:
        raise ConfigError(
            f"{source}: fp16 and bf16 are both enabled; m2t trains in bf16 on GPU, set fp16.enabled false"
        )
    return ds
