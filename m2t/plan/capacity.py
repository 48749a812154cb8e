"""Capacity plan: per training stage, what each GPU holds, what a sample costs, how long the steps take, how much
data moves. ``jobs/plan.py`` prints it; ``docs/cluster.md`` explains the figures.

Parameters come from the modules the config builds (:mod:`m2t.plan.shapes`); FLOPs and activations are those of
one step of them measured on fake tensors at the profile's mean lengths (activations scale linearly to the longest
micro-batch). Memory per GPU under ZeRO-2 with N workers and Ψ trainable parameters: all weights in the model dtype
(the frozen base is replicated), a 1/N gradient partition, the optimizer's 1/N share (fp32 master + Adam's two
moments: 12Ψ/N bytes in bf16, 8Ψ/N in fp32), DeepSpeed's reduce buckets (``reduce_bucket_size`` elements of the
gradient dtype, twice with ``overlap_comm``), and the activations of one micro-batch. Traffic per GPU: each
micro-step reduce-scatters the gradients (ZeRO-2 reduces every micro-step), each optimizer step all-gathers the
updated parameters, both (N-1)/N of 2Ψ bytes in bf16.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from m2t.config import Config
from m2t.plan import shapes
from m2t.plan.epochs import epoch_shape, resolve_schedule
from m2t.plan.flops import encoder_forward_flops, encoder_width
from m2t.plan.profile import Profile

GPUS = {"h100": (989e12, 80), "h200": (989e12, 141), "a100": (312e12, 80)}  # dense bf16 FLOP/s, GB of memory
GB = 1e9


def model_dtype(cfg: Config) -> torch.dtype:
    """What the plan assumes the model computes in: bf16 on GPU (``auto``), unless the config says float32."""
    return torch.float32 if cfg.model.dtype == "float32" else torch.bfloat16


def store_bytes(*, distinct: int, residues: int, hidden: int, dtype_bytes: int, per_shard: int) -> int:
    """Bytes of the store's shards: the tensors, plus safetensors' JSON header (an entry of about 110 bytes plus
    its digits per sequence, and the shard's metadata)."""
    shards = math.ceil(distinct / per_shard)
    digits = 2 * len(str(residues // max(distinct, 1) * hidden * dtype_bytes * per_shard))
    header = distinct * (64 + 46 + len(str(hidden)) + 3 + digits) + shards * 120
    return residues * hidden * dtype_bytes + header


def _stage_step(cfg: Config, stage: str, profile: Profile, dim_in: int, dtype: torch.dtype, checkpointing: bool):
    """``(total params, trainable, FLOPs per sample, activation bytes per sample)`` of one training sample."""
    lora = cfg.lora if stage == "finetune" else None
    llm = shapes.build_llm(cfg.model, lora, dtype=dtype)
    if checkpointing:
        llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    llm.train()
    adapter = shapes.build_adapter(cfg.model, dim_in=dim_in, dim_llm=llm.config.hidden_size, dtype=dtype)
    adapter.requires_grad_(stage == "pretrain" or cfg.lora.train_adapters)
    total, trainable = (a + b for a, b in zip(shapes.count(llm), shapes.count(adapter), strict=True))
    tokens, residues = max(1, round(profile.tokens)), max(1, round(profile.residues_per_sample / 2))

    def llm_step():
        x = torch.zeros(1, tokens, llm.config.hidden_size, dtype=dtype, requires_grad=stage == "pretrain")
        return llm(inputs_embeds=x, labels=torch.zeros(1, tokens, dtype=torch.long)).loss

    def adapter_step():
        emb, mask = torch.zeros(1, residues, dim_in, dtype=dtype), torch.ones(1, residues, dtype=torch.bool)
        out = adapter(wt_emb=emb, wt_mask=mask, mut_emb=emb, mut_mask=mask)
        return out.float().sum() if out.requires_grad else None

    llm_flops, llm_act = shapes.measure(llm_step, llm)
    adapter_flops, adapter_act = shapes.measure(adapter_step, adapter)
    return total, trainable, llm_flops + adapter_flops, llm_act + adapter_act, llm_act / tokens


def stage_plan(cfg: Config, stage: str, profile: Profile, *, dim_in: int, gpu: str, mfu: float, encoder) -> dict:
    n, dtype = cfg.train.num_workers, model_dtype(cfg)
    s, _ = resolve_schedule(getattr(cfg.train, stage), train_rows=profile.train_rows, workers=n)  # epochs in steps
    peak, capacity = GPUS[gpu]
    nbytes = 2 if dtype == torch.bfloat16 else 4
    gc = cfg.model.gradient_checkpointing
    total, psi, flops, act, act_per_token = _stage_step(cfg, stage, profile, dim_in, dtype, gc)
    _, _, flops_alt, act_alt, _ = _stage_step(cfg, stage, profile, dim_in, dtype, not gc)
    if cfg.embed.mode == "stream":  # each sample's two sequences through the encoder, every epoch
        flops += encoder_forward_flops(encoder, [round(profile.residues_per_sample / 2)] * 2)
    ds = json.loads(Path(cfg.deepspeed.config).read_text()).get("zero_optimization", {})
    buckets = (2 if ds.get("overlap_comm") else 1) * int(float(ds.get("reduce_bucket_size", 5e8))) * nbytes
    worst_act = s.micro_batch_size * (act + act_per_token * (profile.max_tokens - profile.tokens))
    memory = {
        "weights": total * nbytes,
        "gradients": psi * nbytes / n,
        "optimizer": psi * (12 if nbytes == 2 else 8) / n,
        "buffers": buckets,
        "activations": s.micro_batch_size * act,
        "activations_longest": worst_act,
    }
    memory["total_longest"] = sum(v for k, v in memory.items() if k not in ("activations",))
    per_gpu = peak * mfu / flops
    batch = s.micro_batch_size * s.grad_accum * n
    shape = epoch_shape(s, train_rows=profile.train_rows, workers=n)
    micro_time = s.micro_batch_size / per_gpu
    grad_micro = psi * nbytes * (n - 1) / n
    return {
        "stage": stage,
        "params": {"total": total, "trainable": psi},
        "memory_bytes": memory,
        "gpu_memory_bytes": capacity * GB,
        "flops_per_sample": flops,
        "gradient_checkpointing": {"on": gc, "flops_if_toggled": flops_alt, "activations_if_toggled": act_alt},
        "samples_per_s_per_gpu": per_gpu,
        "samples_per_s": per_gpu * n,
        "hours": s.steps * batch / (per_gpu * n) / 3600,
        "gpu_hours": s.steps * batch / per_gpu / 3600,
        "global_batch": batch,
        "epoch": shape,
        "epochs": s.steps * s.grad_accum / shape["micro_batches_per_worker"],
        "read_bytes_per_s_per_gpu": profile.residues_per_sample * dim_in * _store_dtype_bytes(cfg) * per_gpu
        if cfg.embed.mode == "store"
        else 0.0,
        "gradient_bytes_per_micro_step": grad_micro,
        "gradient_bytes_per_step": grad_micro * s.grad_accum + grad_micro,
        "gradient_bytes_per_s_per_gpu": grad_micro / micro_time,
    }


def _store_dtype_bytes(cfg: Config) -> int:
    return 4 if cfg.embed.dtype == "float32" else 2


def plan(cfg: Config, profile: Profile, *, gpu: str = "h100", mfu: float = 0.4) -> dict:
    """The whole plan: data, store and embedding job, and both stages."""
    encoder = shapes.build_encoder(cfg.encoder)
    enc_total, _ = shapes.count(encoder)
    hidden = encoder_width(encoder)
    mean_len = round(profile.distinct_residues / profile.distinct)
    embed_flops = encoder_forward_flops(encoder, [mean_len]) * profile.distinct
    peak, _ = GPUS[gpu]
    store = store_bytes(
        distinct=profile.distinct,
        residues=profile.distinct_residues,
        hidden=hidden,
        dtype_bytes=_store_dtype_bytes(cfg),
        per_shard=cfg.embed.batch_sequences,
    )
    return {
        "config": {
            "llm": cfg.model.llm,
            "encoder": f"{cfg.encoder.backend}/{cfg.encoder.name}",
            "gpu": gpu,
            "mfu": mfu,
        },
        "data": vars(profile),
        "encoder": {"params": enc_total, "hidden": hidden, "embed_gpu_hours": embed_flops / (peak * mfu) / 3600},
        "store_bytes": store if cfg.embed.mode == "store" else 0,
        "stages": [
            stage_plan(cfg, stage, profile, dim_in=hidden, gpu=gpu, mfu=mfu, encoder=encoder)
            for stage in ("pretrain", "finetune")
        ],
    }
