"""ESM3 and ESM C through EvolutionaryScale's ``esm`` SDK (3.2.1.post1), or tiny random twins.

Real weights: ``ESM3.from_pretrained("esm3_sm_open_v1")`` (1.4B, d=1536; gated on Hugging Face:
accept EvolutionaryScale's licence and ``huggingface-cli login``), ``ESMC.from_pretrained("esmc_300m")``
(d=960) or ``"esmc_600m"`` (d=1152). Both download on first use; for air-gapped clusters use
``esm.pretrained.register_local_model``. The batched raw forward is
``model(sequence_tokens=ids, sequence_id=mask)``; ESM3 needs ``sequence_id`` or padding changes its
outputs, and ESM C gets the same mask explicitly.
"""

from __future__ import annotations

import torch
from esm.models.esm3 import ESM3
from esm.models.esmc import ESMC
from esm.tokenization import (
    EsmSequenceTokenizer,
    InterProQuantizedTokenizer,
    ResidueAnnotationsTokenizer,
    SASADiscretizingTokenizer,
    SecondaryStructureTokenizer,
    StructureTokenizer,
    TokenizerCollection,
)

from m2t.encoders.base import BatchedEncoder

MAX_RESIDUES = 1024  # MutaDescribe holds wild types of up to 1,024 residues


def tiny_esmc(*, d_model: int, n_layers: int, n_heads: int, seed: int) -> ESMC:
    torch.manual_seed(seed)
    return ESMC(d_model=d_model, n_heads=n_heads, n_layers=n_layers, tokenizer=EsmSequenceTokenizer(),
                use_flash_attn=False)


def tiny_esm3(*, d_model: int, n_layers: int, n_heads: int, seed: int) -> ESM3:
    """An ESM3 with small dims. ``get_esm3_model_tokenizers()`` downloads, so the collection is built
    here; the residue-annotation CSV is read lazily and never needed for sequence-only embeddings."""
    tokenizers = TokenizerCollection(
        sequence=EsmSequenceTokenizer(), structure=StructureTokenizer(),
        secondary_structure=SecondaryStructureTokenizer(kind="ss8"), sasa=SASADiscretizingTokenizer(),
        function=InterProQuantizedTokenizer(), residue_annotations=ResidueAnnotationsTokenizer(csv_path="unused.csv"))
    torch.manual_seed(seed)
    return ESM3(d_model=d_model, n_heads=n_heads, v_heads=max(1, n_heads // 2), n_layers=n_layers,
                structure_encoder_fn=_no_structure, structure_decoder_fn=_no_structure,
                function_decoder_fn=_no_structure, tokenizers=tokenizers)


def _no_structure(device):
    raise RuntimeError("the tiny ESM3 twin has no structure/function codecs; m2t uses sequence embeddings only")


class EsmSdkEncoder(BatchedEncoder):
    """ESM3 or ESM C; the model's ``embeddings`` output is the per-residue representation."""

    def __init__(self, *, model: ESM3 | ESMC, encoder_id: str, hidden_size: int, token_budget: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.tokenizer = EsmSequenceTokenizer()
        super().__init__(model=model, encoder_id=encoder_id, hidden_size=hidden_size, max_length=MAX_RESIDUES,
                         pad_id=self.tokenizer.pad_token_id, token_budget=token_budget, device=device, dtype=dtype)

    @classmethod
    def pretrained(cls, backend: str, name: str, *, device: torch.device, **kw) -> EsmSdkEncoder:
        model = (ESM3 if backend == "esm3" else ESMC).from_pretrained(name, device=device)
        hidden = model.encoder.sequence_embed.embedding_dim if backend == "esm3" else model.embed.embedding_dim
        return cls(model=model, encoder_id=f"{backend}:{name}", hidden_size=hidden, device=device, **kw)

    def tokenize(self, sequence: str) -> torch.Tensor:
        return torch.tensor(self.tokenizer.encode(sequence), dtype=torch.long)  # (L+2,) BOS … EOS

    def forward_hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (b, t), mask (b, t) True = token → embeddings (b, t, d)."""
        return self.model(sequence_tokens=ids, sequence_id=mask).embeddings
