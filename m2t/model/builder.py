"""Builders: config -> plain numbers -> modules; ``build_model`` for each stage."""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from m2t.config import Config, ModelConfig
from m2t.model.adapter import DeltaAdapter
from m2t.model.freeze import Stage, set_trainable
from m2t.model.llm import build_llm, enable_gradient_checkpointing
from m2t.model.lora import apply_lora
from m2t.model.multimodal import M2TModel
from m2t.model.tokenizer import build_tokenizer


def adapter_kwargs(model_cfg: ModelConfig, *, dim_in: int, dim_llm: int) -> dict[str, Any]:
    """The DeltaAdapter's constructor arguments (plain numbers) for this config."""
    return dict(
        dim_in=dim_in,
        dim_llm=dim_llm,
        num_media_tokens=model_cfg.num_media_tokens,
        gca_heads=model_cfg.gca.heads,
        gca_dim_head=model_cfg.gca.dim_head,
        gca_ff_mult=model_cfg.gca.ff_mult,
        resampler_depth=model_cfg.resampler.depth,
        resampler_heads=model_cfg.resampler.heads,
        resampler_dim_head=model_cfg.resampler.dim_head,
        resampler_ff_mult=model_cfg.resampler.ff_mult,
        projector=model_cfg.projector,
    )


def build_adapter(model_cfg: ModelConfig, *, dim_in: int, dim_llm: int) -> DeltaAdapter:
    return DeltaAdapter(**adapter_kwargs(model_cfg, dim_in=dim_in, dim_llm=dim_llm))


def assemble(
    cfg: Config,
    *,
    llm: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    new_token_ids: list[int],
    dim_in: int,
    encoder_id: str | None,
) -> M2TModel:
    """An M2TModel around an already-built LLM and tokenizer, with a freshly initialised adapter."""
    adapter = build_adapter(cfg.model, dim_in=dim_in, dim_llm=llm.config.hidden_size)
    return M2TModel(
        adapter=adapter,
        llm=llm,
        tokenizer=tokenizer,
        system_prompt=cfg.model.system_prompt,
        instruction=cfg.model.instruction,
        prompt_fields=cfg.model.prompt_fields,
        prompt_field_words=cfg.model.prompt_field_words,
        delta_token=cfg.model.delta_token,
        use_protein=cfg.model.use_protein,
        dim_in=dim_in,
        encoder_id=encoder_id,
        new_token_ids=new_token_ids,
    )


def build_model(cfg: Config, *, stage: Stage, dim_in: int, encoder_id: str | None = None) -> M2TModel:
    """A fresh model for ``stage``: new adapter; stage ``finetune`` also gets fresh LoRA.

    To continue from a checkpoint (stage 2 after stage 1, resume, inference) use
    :func:`m2t.model.checkpoint.load_checkpoint` instead.
    """
    tokenizer = build_tokenizer(cfg.model)
    llm, new_ids = build_llm(cfg.model, tokenizer)
    if cfg.model.gradient_checkpointing:
        enable_gradient_checkpointing(llm)
    if stage == "finetune":
        llm = apply_lora(llm, cfg.lora)
    model = assemble(cfg, llm=llm, tokenizer=tokenizer, new_token_ids=new_ids, dim_in=dim_in, encoder_id=encoder_id)
    set_trainable(model, stage=stage, train_adapters=cfg.lora.train_adapters)
    return model
