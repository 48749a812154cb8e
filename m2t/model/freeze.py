"""Which parameters train in which stage: freeze everything, check, unfreeze by name, log the count."""

from __future__ import annotations

import logging
from typing import Literal

from torch import nn

log = logging.getLogger(__name__)

Stage = Literal["pretrain", "finetune", "infer"]
STAGE_PARTS = {"pretrain": "adapter", "finetune": "LoRA", "infer": "nothing"}


def is_trainable(name: str, *, stage: Stage, train_adapters: bool) -> bool:
    """Stage 1 trains the adapter (GCA + resampler + projector + media gate); stage 2 trains LoRA, plus
    the adapter when ``train_adapters``; inference trains nothing."""
    adapter, lora = name.startswith("adapter."), ".lora_" in name
    if stage == "pretrain":
        return adapter
    if stage == "finetune":
        return lora or (train_adapters and adapter)
    if stage == "infer":
        return False
    raise ValueError(f"unknown stage {stage!r}; use pretrain, finetune or infer")


def set_trainable(model: nn.Module, *, stage: Stage, train_adapters: bool = False) -> int:
    """Freeze all of ``model``, then unfreeze the parameters of ``stage``; returns the trainable count."""
    for p in model.parameters():
        p.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters()), "freezing failed"
    for name, p in model.named_parameters():
        if is_trainable(name, stage=stage, train_adapters=train_adapters):
            p.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    if stage != "infer" and trainable == 0:
        raise ValueError(f"stage {stage}: no parameter to train; is LoRA applied (stage 2 needs it)?")
    parts = STAGE_PARTS[stage] + (" + adapter" if stage == "finetune" and train_adapters else "")
    log.info(
        "stage %s: %s of %s parameters trainable (%.2f%%): %s",
        stage,
        f"{trainable:,}",
        f"{total:,}",
        100 * trainable / max(total, 1),
        parts,
    )
    return trainable
