"""ESM C through EvolutionaryScale's ``esm`` SDK (3.2.1.post1), or a tiny random twin.

Real weights: ``ESMC.from_pretrained("esmc_300m")`` (d=960, 30 layers) or ``"esmc_600m"`` (d=1152,
36 layers), downloaded from Hugging Face (``EvolutionaryScale/esmc-300m-2024-12`` / ``-600m-``) into
its cache on first use; on GPU the SDK loads them in bf16 and uses flash-attention when installed.
The per-residue representation is the model's ``embeddings`` output (the final, layer-normed state).
"""

from __future__ import annotations

import torch
from esm.models.esmc import ESMC
from esm.tokenization import EsmSequenceTokenizer

from m2t.encoders.base import MAX_RESIDUES, BatchedEncoder, seeded

NAMES = ("esmc_300m", "esmc_600m")


def tiny_model(*, d_model: int, n_layers: int, n_heads: int, seed: int) -> ESMC:
    with seeded(seed):
        return ESMC(
            d_model=d_model, n_heads=n_heads, n_layers=n_layers, tokenizer=EsmSequenceTokenizer(), use_flash_attn=False
        )


class EsmcEncoder(BatchedEncoder):
    def __init__(
        self, *, model: ESMC, encoder_id: str, token_budget: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        super().__init__(
            model=model,
            tokenizer=model.tokenizer,
            encoder_id=encoder_id,
            hidden_size=model.embed.embedding_dim,
            max_length=MAX_RESIDUES,
            token_budget=token_budget,
            device=device,
            dtype=dtype,
        )

    @classmethod
    def tiny(cls, *, d_model: int, n_layers: int, n_heads: int, seed: int, **kw) -> EsmcEncoder:
        return cls(model=tiny_model(d_model=d_model, n_layers=n_layers, n_heads=n_heads, seed=seed), **kw)

    @classmethod
    def pretrained(cls, name: str, *, device: torch.device, **kw) -> EsmcEncoder:
        """``esmc_300m`` or ``esmc_600m`` (downloads on first use); the id is ``esmc:<name>``."""
        if name not in NAMES:
            raise ValueError(f"encoder.name {name!r} is not an ESM C model: use one of {', '.join(NAMES)} or 'tiny'")
        return cls(model=ESMC.from_pretrained(name, device=device), encoder_id=f"esmc:{name}", device=device, **kw)

    def forward_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (b, t), mask (b, t) True = real token → embeddings (b, t, d), sequence logits (b, t, 64).

        The mask goes in as ``sequence_id`` (ESM C's boolean key-padding mask; flash-attention unpads by it).
        """
        out = self.model(sequence_tokens=ids, sequence_id=mask)
        return out.embeddings, out.sequence_logits
