"""DeltaAdapter: GCA -> Perceiver resampler -> projector -> media gate, from residue embeddings to LLM vectors."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from m2t.modules.gated_cross_attention import GatedCrossAttention
from m2t.modules.perceiver_resampler import PerceiverResampler
from m2t.modules.projector import make_projector
from m2t.modules.tanh_gate import TanhGate


class DeltaAdapter(nn.Module):
    """Turn a (wild type, mutant) pair of per-residue embeddings into ``num_media_tokens`` LLM vectors.

    The output is gated by ``tanh(g_media)`` with ``g_media = 0`` at init: the spliced vectors are
    added to the ``<delta_P>`` embedding, so a fresh adapter leaves the LLM's logits unchanged.
    """

    def __init__(
        self,
        *,
        dim_in: int,
        dim_llm: int,
        num_media_tokens: int,
        gca_heads: int,
        gca_dim_head: int,
        gca_ff_mult: int,
        resampler_depth: int,
        resampler_heads: int,
        resampler_dim_head: int,
        resampler_ff_mult: int,
        projector: Literal["mlp2x_gelu", "linear"],
    ) -> None:
        super().__init__()
        self.dim_in, self.dim_llm, self.num_media_tokens = dim_in, dim_llm, num_media_tokens
        self.gca = GatedCrossAttention(dim=dim_in, heads=gca_heads, dim_head=gca_dim_head, ff_mult=gca_ff_mult)
        self.resampler = PerceiverResampler(
            dim=dim_in,
            num_latents=num_media_tokens,
            depth=resampler_depth,
            heads=resampler_heads,
            dim_head=resampler_dim_head,
            ff_mult=resampler_ff_mult,
        )
        self.projector = make_projector(projector, dim_in=dim_in, dim_out=dim_llm)
        self.media_gate = TanhGate()

    def forward(
        self, *, wt_emb: torch.Tensor, wt_mask: torch.Tensor, mut_emb: torch.Tensor, mut_mask: torch.Tensor
    ) -> torch.Tensor:
        """Encode the mutation.

        Args:
            wt_emb: ``(b, n_wt, dim_in)`` wild-type residue embeddings.
            wt_mask: ``(b, n_wt)`` bool, True = real residue.
            mut_emb: ``(b, n_mut, dim_in)`` mutant residue embeddings (``n_mut`` may differ: indels).
            mut_mask: ``(b, n_mut)`` bool, True = real residue.

        Returns:
            ``(b, num_media_tokens, dim_llm)`` gated vectors to add at the ``<delta_P>`` positions.
        """
        dtype = self.resampler.latents.dtype
        delta = self.gca(
            mut=mut_emb.to(dtype), mut_mask=mut_mask, wt=wt_emb.to(dtype), wt_mask=wt_mask
        )  # (b, n_mut, d)
        latents = self.resampler(x=delta, mask=mut_mask)  # (b, m, d)
        return self.media_gate(self.projector(latents))  # (b, m, dim_llm)
