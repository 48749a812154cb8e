"""Multi-head attention over keys with a padding mask, shared by the GCA and the resampler."""

from __future__ import annotations

import torch


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(b, n, h * dh)`` -> ``(b, h, n, dh)``."""
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2)  # (b, h, n, dh)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(b, h, n, dh)`` -> ``(b, n, h * dh)``."""
    b, h, n, dh = x.shape
    return x.transpose(1, 2).reshape(b, n, h * dh)  # (b, n, h * dh)


def masked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, key_mask: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Scaled dot-product attention that ignores padded keys.

    Args:
        q: ``(b, h, n, dh)`` queries.
        k: ``(b, h, m, dh)`` keys.
        v: ``(b, h, m, dh)`` values.
        key_mask: ``(b, m)`` bool, True = real key (attend), False = padding (ignore).
        bias: optional additive score bias broadcastable to ``(b, h, n, m)``.

    Returns:
        ``(b, h, n, dh)``. A query row with no real key at all gets zeros, never NaN or a
        uniform average over padding.
    """
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (b, h, n, m)
    if bias is not None:
        scores = scores + bias
    keep = key_mask[:, None, None, :]  # (b, 1, 1, m)
    scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1) * keep  # all-padding rows become all zeros
    return weights @ v  # (b, h, n, dh)
