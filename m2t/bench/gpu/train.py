"""Real-size training steps: stage 1 (adapter; Llama-3.1-8B frozen) and stage 2 (LoRA) on one GPU in bf16.

The GPU machine has no DeepSpeed, so a step is the training loop's step on plain torch: forward with the
store's (bf16-rounded) embeddings, backward, gradient clipping, a torch AdamW step, all parameters in bf16
as DeepSpeed's bf16 engine holds them (it would keep fp32 master copies in addition). Each variant (stage,
micro-batch, gradient checkpointing on / off) runs one warm-up step and ``scale.train_steps`` timed ones
on length-grouped micro-batches, as the loop does. MFU = model FLOPs (torch's ``FlopCounterMode`` over one
step without recomputation, eager attention so its matmuls count) over time over the measured matmul peak;
checkpointing's recomputation therefore shows as a lower MFU.
"""

from __future__ import annotations

import random
import time

import torch

from m2t.bench.flops import step_flops
from m2t.bench.gpu.scale import RealScale
from m2t.bench.machine import peak_memory_gib, reset_peak_memory, synchronize
from m2t.bench.report import result
from m2t.config import Config, StageConfig
from m2t.data.records import Record
from m2t.model import M2TModel, apply_lora, collate, make_example, set_trainable
from m2t.model.batching import to_device
from m2t.model.llm import enable_gradient_checkpointing

UNITS = "samples/s (optimizer steps, Llama-3.1-8B-Instruct)"


def micro_batches(
    model: M2TModel,
    cfg: Config,
    records: list[Record],
    inputs: dict[str, torch.Tensor],
    *,
    size: int,
    count: int,
    group: int,
    seed: int = 0,
) -> list[dict[str, torch.Tensor]]:
    """``count`` collated micro-batches of ``size``: the records cycled in a seeded order, each ``group``
    micro-batches' worth sorted by description and wild-type length and cut (``train.<stage>.group_by_length``)."""
    order = list(records)
    random.Random(seed).shuffle(order)
    stream = [order[i % len(order)] for i in range(size * count)]
    out = []
    for g in range(0, len(stream), size * group):
        part = sorted(stream[g : g + size * group], key=lambda r: (len(r.description or ""), len(r.wild_type)))
        for i in range(0, len(part), size):
            out.append(
                collate(
                    [
                        {
                            **make_example(model.tokenizer, cfg.model, r.description),
                            "wt_emb": inputs[r.wild_type],
                            "mut_emb": inputs[r.mutant],
                        }
                        for r in part[i : i + size]
                    ],
                    pad_id=model.pad_id,
                )
            )
    return out[:count]


def _variant(
    model: M2TModel,
    batches: list[dict],
    *,
    stage_cfg: StageConfig,
    checkpointing: bool,
    device: torch.device,
    dtype: torch.dtype,
    flops_per_step: float,
    peak: float,
) -> dict:
    if checkpointing:
        enable_gradient_checkpointing(model.llm)
    elif model.llm.is_gradient_checkpointing:
        model.llm.gradient_checkpointing_disable()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=stage_cfg.lr, weight_decay=stage_cfg.weight_decay)
    model.train()

    def step(batch: dict) -> None:
        model(**to_device(batch, device=device, dtype=dtype)).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, stage_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    reset_peak_memory(device)
    step(batches[0])  # warm-up: kernels, allocator, optimizer states
    synchronize(device)
    started = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    synchronize(device)
    seconds = time.perf_counter() - started
    timed = batches[1:]
    samples = sum(b["input_ids"].shape[0] for b in timed)
    tokens = sum(int(b["attention_mask"].sum()) for b in timed)
    optimizer.state.clear()  # free the AdamW states before the next variant
    return {
        "value": samples / seconds,
        "seconds": round(seconds, 3),
        "steps": len(timed),
        "samples": samples,
        "tokens_per_s": tokens / seconds,
        "tokens_per_sample": round(tokens / samples, 1),
        "padded_tokens_per_step": sum(b["input_ids"].numel() for b in timed) / len(timed),
        "flops_per_step": flops_per_step,
        "mfu": round(flops_per_step * len(timed) / seconds / peak, 4),
        "peak_memory_gib": peak_memory_gib(device),
        "trainable_params": sum(p.numel() for p in params),
        "how": f"gradient checkpointing {'on' if checkpointing else 'off'}",
    }


def _stage(model: M2TModel, cfg: Config, stage: str, records, inputs, *, scale: RealScale, machine: dict) -> list[dict]:
    stage_cfg = getattr(cfg.train, stage)
    device, dtype = scale.torch_device, next(model.llm.parameters()).dtype
    sizes = [stage_cfg.micro_batch_size] + ([scale.extra_micro_batch] if scale.extra_micro_batch else [])
    out = []
    for size in dict.fromkeys(sizes):
        batches = micro_batches(
            model, cfg, records, inputs, size=size, count=1 + scale.train_steps, group=stage_cfg.group_by_length
        )
        flops = step_flops(model, [to_device(batches[0], device=device, dtype=dtype)])
        sides = {
            on: _variant(
                model,
                batches,
                stage_cfg=stage_cfg,
                checkpointing=on,
                device=device,
                dtype=dtype,
                flops_per_step=flops,
                peak=machine["matmul_flops"],
            )
            for on in (True, False)
        }
        configured = cfg.model.gradient_checkpointing
        ours, baseline = sides[configured], sides[not configured]
        ours["how"] += " (the config's model.gradient_checkpointing)"
        number = {"pretrain": 1, "finetune": 2}[stage]
        out.append(
            result(
                benchmark=f"real_train_stage{number}_mb{size}",
                ours=ours,
                baseline=baseline,
                units=UNITS,
                inputs={
                    "stage": stage,
                    "micro_batch_size": size,
                    "records": len(records),
                    "optimizer": "torch AdamW, all parameters bf16 (no DeepSpeed on the GPU machine)",
                    "llm_layers": model.llm.config.num_hidden_layers,
                    "lora": cfg.lora.model_dump() if number == 2 else None,
                },
                machine=machine,
                target={"rule": "reported", "met": None},
            )
        )
    return out


def run_real_train(
    cfg: Config,
    model: M2TModel,
    records: list[Record],
    inputs: dict[str, torch.Tensor],
    *,
    scale: RealScale,
    machine: dict,
) -> tuple[list[dict], M2TModel]:
    """Stage 1 on ``model`` (a fresh stage-1 model on the device), then stage 2 after adding LoRA from
    ``cfg.lora``; returns the results and the stage-2 model (for the describe benchmark's checkpoint)."""
    results = _stage(model, cfg, "pretrain", records, inputs, scale=scale, machine=machine)
    dtype = next(model.llm.parameters()).dtype
    model.llm = apply_lora(model.llm, cfg.lora).to(scale.torch_device, dtype)
    set_trainable(model, stage="finetune", train_adapters=cfg.lora.train_adapters)
    results += _stage(model, cfg, "finetune", records, inputs, scale=scale, machine=machine)
    return results, model
