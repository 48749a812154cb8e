"""A worker's model and DeepSpeed engine for one stage: fresh, from the stage-1 checkpoint, or resumed."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from m2t.config import Config, StageConfig
from m2t.model import M2TModel, build_model, load_checkpoint
from m2t.model.llm import enable_gradient_checkpointing, resolve_dtype
from m2t.train.deepspeed_config import fill_deepspeed_config
from m2t.train.schedule import warmup_cosine

log = logging.getLogger(__name__)


def stage_model(
    cfg: Config, *, stage: str, init: str | Path | None, resume: str | Path | None, encoder_id: str, dim_in: int
) -> M2TModel:
    """The model a stage starts from, with the stage's parameters trainable.

    ``resume`` (the ``model/`` part of this run's last checkpoint) wins; else stage ``pretrain``
    builds a fresh adapter and stage ``finetune`` loads the stage-1 checkpoint ``init`` and adds fresh
    LoRA from ``cfg.lora``. Gradient checkpointing of the LLM follows ``cfg.model.gradient_checkpointing``.
    """
    if resume is not None:
        model, _ = load_checkpoint(resume, stage=stage, encoder_id=encoder_id, lora_cfg=cfg.lora)
    elif stage == "pretrain":
        model = build_model(cfg, stage="pretrain", dim_in=dim_in, encoder_id=encoder_id)
    elif init is None:
        raise ValueError("stage finetune starts from a stage-1 checkpoint; none was given")
    else:
        model, _ = load_checkpoint(init, stage="finetune", encoder_id=encoder_id, lora_cfg=cfg.lora)
    if cfg.model.gradient_checkpointing:
        enable_gradient_checkpointing(model.llm)
    elif model.llm.is_gradient_checkpointing:
        model.llm.gradient_checkpointing_disable()
    return model


def deepspeed_engine(model: M2TModel, cfg: Config, *, stage_cfg: StageConfig, world_size: int):
    """``(engine, scheduler, dtype)``: ``model`` under DeepSpeed (ZeRO from ``cfg.deepspeed.config``) with a
    torch AdamW over the trainable parameters and the warmup + cosine schedule; ``dtype`` is what the
    engine computes in (bf16 when the LLM is bf16, i.e. on GPU by default; fp32 on CPU)."""
    import deepspeed

    dtype = resolve_dtype(cfg.model.dtype)
    ds_config = fill_deepspeed_config(
        cfg.deepspeed.config, stage_cfg=stage_cfg, world_size=world_size, bf16=dtype == torch.bfloat16
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=stage_cfg.lr, weight_decay=stage_cfg.weight_decay)
    scheduler = warmup_cosine(
        optimizer, warmup_steps=stage_cfg.warmup_steps, total_steps=stage_cfg.steps, min_lr_ratio=stage_cfg.min_lr_ratio
    )
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
    )
    return engine, scheduler, dtype
