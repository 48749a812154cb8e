"""FLOP counts from the architecture: the planner's estimates and the benchmarks' "share of peak" numerators.

A dense forward costs 2 FLOPs per weight of every matmul per token, plus attention's
``QK^T`` and ``AV``: ``4 · T² · d`` per layer for a sequence of ``T`` tokens. Only real tokens
count (padding is work the model did not need), so padding shows up as a lower share of peak.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def matmul_params(model: nn.Module) -> int:
    """Weights that multiply activations in an embedding forward: every ``nn.Linear`` weight (embedding tables are
    lookups), except ESM-2's contact-prediction and masked-LM heads (``contact_head``, ``lm_head``), which
    ``embed`` does not run."""
    return sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and not {"contact_head", "lm_head"} & set(name.split("."))
    )


def encoder_width(model: nn.Module) -> int:
    """The width of an encoder network's per-residue embeddings (UniRep's mLSTM: its hidden size)."""
    return int(model.hidden_size) if hasattr(model, "matmul_weights") else transformer_dims(model)[0]


def transformer_dims(model: nn.Module) -> tuple[int, int]:
    """``(d_model, n_layers)`` of an ESM-2 (transformers) or ESM3 / ESM C (esm SDK) model."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "num_hidden_layers"):
        return int(config.hidden_size), int(config.num_hidden_layers)
    blocks = model.transformer.blocks
    return int(blocks[0].attn.d_model), len(blocks)


def encoder_forward_flops(model: nn.Module, lengths: Iterable[int], *, special_tokens: int = 2) -> float:
    """FLOPs of one forward over sequences of ``lengths`` residues (+ BOS/EOS), each on its own.

    ``2 · matmul_params · T + 4 · T² · d · n_layers`` per sequence of ``T = L + special_tokens`` tokens. A recurrent
    encoder (UniRep's mLSTM, which names the weights each step multiplies: ``matmul_weights()``) has no attention and
    reads the start token and the residues: ``2 · weights · (L + 1)``.
    """
    if hasattr(model, "matmul_weights"):
        return sum(2.0 * model.matmul_weights() * (n + 1) for n in lengths)
    params = matmul_params(model)
    d, layers = transformer_dims(model)
    total = 0.0
    for n in lengths:
        t = n + special_tokens
        total += 2.0 * params * t + 4.0 * t * t * d * layers
    return total
