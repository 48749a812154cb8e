"""Gated cross-attention (GCA): each mutant residue looks up its wild-type counterpart and keeps what changed.

Direction: the mutant residues are the queries, the wild-type residues the keys/values. The
description is about the mutant, so the output has one vector per mutant residue, and each looks
up the wild-type residues that correspond to it. Nothing requires equal lengths, so indels work.

Three choices make the delta easy to learn (each measured in ``test_adapter_carries_mutation``):

* The attention branch emits an explicit difference, ``v(mut_i) - sum_j a_ij v(wt_j)``, with the same
  LayerNorm and value projection on both sides: an unchanged residue that finds its wild-type twin
  cancels (MutaPLM's ``mut - wt`` subtraction, without needing equal lengths). Plain Flamingo
  attention (``sum_j a_ij v(wt_j)`` alone) stayed at chance in the same budget.
* A per-head relative-position bias ``-slope_h * |pos_i - pos_j|`` (learned slopes, initialised from
  steep to nearly flat) aligns residue i with wild-type residue i before any training; after an indel
  the content term finds the shifted twin, and the flat heads compare composition.
* Flamingo's tanh gates, closed at init, with a gain (see :class:`TanhGate`):

    x = mut + tanh(gain * g_attn) * out(delta(mut, wt))
    x = x + tanh(gain * g_ff) * ff(x)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from m2t.modules.attention import masked_attention, merge_heads, split_heads
from m2t.modules.feed_forward import FeedForward
from m2t.modules.tanh_gate import TanhGate


def residue_positions(mask: torch.Tensor) -> torch.Tensor:
    """``(b, n)`` bool (True = residue) -> ``(b, n)`` 0-based index of each residue among the real ones."""
    return mask.long().cumsum(dim=1) - 1


class GatedCrossAttention(nn.Module):
    """One gated cross-attention block from mutant (queries) to wild type (keys/values)."""

    def __init__(self, *, dim: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = nn.LayerNorm(dim)  # shared by both sides so identical residues cancel
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)
        self.log_slope = nn.Parameter(torch.linspace(math.log(4.0), math.log(1 / 64), heads))
        self.attn_gate = TanhGate()
        self.ff = FeedForward(dim=dim, mult=ff_mult)
        self.ff_gate = TanhGate()

    def forward(
        self, *, mut: torch.Tensor, mut_mask: torch.Tensor, wt: torch.Tensor, wt_mask: torch.Tensor
    ) -> torch.Tensor:
        """Compare the mutant with the wild type, residue by residue.

        Args:
            mut: ``(b, n_mut, d)`` mutant per-residue embeddings.
            mut_mask: ``(b, n_mut)`` bool, True = real mutant residue, False = padding.
            wt: ``(b, n_wt, d)`` wild-type per-residue embeddings (``n_wt`` may differ from ``n_mut``).
            wt_mask: ``(b, n_wt)`` bool, True = real wild-type residue, False = padding.

        Returns:
            ``(b, n_mut, d)`` delta-aware mutant representation; padded rows are zero.
        """
        xm, xw = self.norm(mut), self.norm(wt)
        q = split_heads(self.to_q(xm), self.heads)  # (b, h, n_mut, dh)
        k = split_heads(self.to_k(xw), self.heads)  # (b, h, n_wt, dh)
        v_wt = split_heads(self.to_v(xw), self.heads)  # (b, h, n_wt, dh)
        v_mut = split_heads(self.to_v(xm), self.heads)  # (b, h, n_mut, dh)
        pos_m, pos_w = residue_positions(mut_mask), residue_positions(wt_mask)
        distance = (pos_m[:, :, None] - pos_w[:, None, :]).abs().to(q.dtype)  # (b, n_mut, n_wt)
        bias = -self.log_slope.exp().to(q.dtype)[None, :, None, None] * distance[:, None]  # (b, h, n_mut, n_wt)
        context = masked_attention(q, k, v_wt, key_mask=wt_mask, bias=bias)  # (b, h, n_mut, dh)
        delta = merge_heads(v_mut - context)  # (b, n_mut, h * dh)
        x = mut + self.attn_gate(self.to_out(delta))
        x = x + self.ff_gate(self.ff(x))
        return x * mut_mask[..., None].to(x.dtype)
