"""Multi-head attention over keys with a padding mask, shared by the GCA and the resampler."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
    """Scaled dot-product attention (torch's fused ``scaled_dot_product_attention``) that ignores padded keys.

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
    has_key = key_mask.any(dim=-1, keepdim=True)  # (b, 1)
    keep = (key_mask | ~has_key)[
        :, None, None, :
    ]  # (b, 1, 1, m): an item with no real key attends to all (zeroed below)
    if bias is None:
        mask = keep
    else:  # one additive mask: the bias, and the dtype's minimum on padded keys
        mask = bias.to(q.dtype).masked_fill(~keep, torch.finfo(q.dtype).min)  # (b | 1, h | 1, n | 1, m)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (b, h, n, dh), fused: no (n, m) weights kept
    return out * has_key[:, :, None, None].to(out.dtype)
