"""Model FLOPs of the benchmarks' real work (the numerators of "share of peak"); the architecture's counts are
:mod:`m2t.plan.flops`'s."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from m2t.model.llm import enable_gradient_checkpointing


def encoder_side(
    seconds: float,
    lengths: list[int],
    *,
    workload: int,
    flops: float,
    peak: float,
    how: str,
    peak_key: str = "share_of_peak",
    **extra,
) -> dict:
    """One side of an encoder benchmark: ``workload`` residues in ``seconds``, the sequences it encoded (``lengths``),
    their forward FLOPs and the share of the matmul ``peak`` they reached (under ``peak_key``)."""
    return {
        "value": workload / seconds,
        "seconds": round(seconds, 3),
        "sequences_encoded": len(lengths),
        "residues_encoded": sum(lengths),
        "flops": flops,
        "flops_per_s": flops / seconds,
        peak_key: round(flops / seconds / peak, 4),
        "how": how,
        **extra,
    }


def step_flops(model, batches: list[dict[str, torch.Tensor]]) -> float:
    """Forward + backward FLOPs of an :class:`~m2t.model.M2TModel` on ``batches`` (already on its device and dtype),
    counted by torch's FlopCounterMode without recomputation (gradient checkpointing off while counting) and with
    the LLM's attention in eager mode, so that its matmuls count too; the model is left as it was, gradients cleared."""
    config = model.llm.config
    attention, config._attn_implementation = config._attn_implementation, "eager"
    checkpointing = model.llm.is_gradient_checkpointing
    if checkpointing:
        model.llm.gradient_checkpointing_disable()
    try:
        with FlopCounterMode(display=False) as counter:
            for batch in batches:
                model(**batch).loss.backward()
    finally:
        config._attn_implementation = attention
        if checkpointing:
            enable_gradient_checkpointing(model.llm)
        model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())
