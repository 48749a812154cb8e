"""LoRA on the base LLM through PEFT, and merging it for inference."""

from __future__ import annotations

import peft
from transformers import PreTrainedModel

from m2t.config import LoraConfig
from m2t.model.dropout import fast_lora_dropout
from m2t.model.multimodal import M2TModel


def apply_lora(llm: PreTrainedModel, lora_cfg: LoraConfig) -> peft.PeftModel:
    """Wrap ``llm`` with fresh LoRA adapters on ``lora_cfg.target_modules`` (B = 0: outputs unchanged); their dropout
    is :class:`m2t.model.dropout.FastDropout`."""
    config = peft.LoraConfig(
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=list(lora_cfg.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(llm, config)
    fast_lora_dropout(model)
    return model


def merge_lora(model: M2TModel) -> M2TModel:
    """Fold the LoRA weights into the base LLM (faster inference, same logits); no-op without LoRA."""
    if isinstance(model.llm, peft.PeftModel):
        model.llm = model.llm.merge_and_unload()
        model.lora_merged = True
    return model
