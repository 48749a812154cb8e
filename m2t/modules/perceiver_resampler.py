"""Perceiver resampler (Flamingo): ``num_latents`` learned queries condense a variable-length sequence."""

from __future__ import annotations

import torch
from torch import nn

from m2t.modules.attention import masked_attention, merge_heads, split_heads
from m2t.modules.feed_forward import FeedForward


class PerceiverAttention(nn.Module):
    """Latents attend over ``[inputs; latents]``; padded inputs are ignored."""

    def __init__(self, *, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm_inputs = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, *, x: torch.Tensor, mask: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``x`` (b, n, d) with ``mask`` (b, n) True = real, ``latents`` (b, m, d) -> (b, m, d)."""
        x, latents = self.norm_inputs(x), self.norm_latents(latents)
        q = split_heads(self.to_q(latents), self.heads)  # (b, h, m, dh)
        kv_in = torch.cat([x, latents], dim=1)  # (b, n + m, d)
        k, v = (split_heads(t, self.heads) for t in self.to_kv(kv_in).chunk(2, dim=-1))  # (b, h, n + m, dh)
        key_mask = torch.cat([mask, mask.new_ones(latents.shape[:2])], dim=1)  # (b, n + m)
        return self.to_out(merge_heads(masked_attention(q, k, v, key_mask=key_mask)))  # (b, m, d)


class PerceiverResampler(nn.Module):
    """``depth`` layers of (latent cross-attention + feed-forward), then a final LayerNorm."""

    def __init__(self, *, dim: int, num_latents: int, depth: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [PerceiverAttention(dim=dim, heads=heads, dim_head=dim_head), FeedForward(dim=dim, mult=ff_mult)]
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, *, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Resample a padded batch to a fixed number of vectors.

        Args:
            x: ``(b, n, d)`` per-residue features (the GCA output).
            mask: ``(b, n)`` bool, True = real residue, False = padding.

        Returns:
            ``(b, num_latents, d)``; independent of how much padding ``x`` carries.
        """
        latents = self.latents.to(x.dtype).expand(x.shape[0], -1, -1)  # (b, m, d)
        for attn, ff in self.layers:
            latents = latents + attn(x=x, mask=mask, latents=latents)
            latents = latents + ff(latents)
        return self.norm(latents)
