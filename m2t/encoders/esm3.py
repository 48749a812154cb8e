"""ESM3 through EvolutionaryScale's ``esm`` SDK (3.2.1.post1), or a tiny random twin.

Real weights: ``ESM3.from_pretrained("esm3_sm_open_v1")`` (1.4B parameters, d=1536, 48 layers),
downloaded from the gated Hugging Face repo ``EvolutionaryScale/esm3-sm-open-v1``: accept
EvolutionaryScale's licence there and ``huggingface-cli login`` first. Only the sequence track is
used; the structure/function tracks get the SDK's defaults (mask/pad tokens, no coordinates). The
per-residue representation is the model's ``embeddings`` output (the final state before the norm).
"""

from __future__ import annotations

import torch
from esm.models.esm3 import ESM3
from esm.pretrained import LOCAL_MODEL_REGISTRY
from esm.tokenization import (
    EsmSequenceTokenizer,
    InterProQuantizedTokenizer,
    ResidueAnnotationsTokenizer,
    SASADiscretizingTokenizer,
    SecondaryStructureTokenizer,
    StructureTokenizer,
    TokenizerCollection,
)
from esm.utils.constants.models import ESM3_OPEN_SMALL, normalize_model_name

from m2t.encoders.base import MAX_RESIDUES, BatchedEncoder, seeded


def tiny_model(*, d_model: int, n_layers: int, n_heads: int, seed: int, v_heads: int | None = None) -> ESM3:
    """An ESM3 with small dims (d_model a multiple of 8: the 8 function embeddings are d_model/8 wide); ``v_heads``
    (geometric attention heads) defaults to half the heads (ESM3-open has 256; m2t.bench.shapes builds that shape).

    ``get_esm3_model_tokenizers()`` downloads, so the tokenizer collection is built here; the
    residue-annotation CSV is read lazily and never needed for sequence-only embeddings.
    """
    tokenizers = TokenizerCollection(
        sequence=EsmSequenceTokenizer(),
        structure=StructureTokenizer(),
        secondary_structure=SecondaryStructureTokenizer(kind="ss8"),
        sasa=SASADiscretizingTokenizer(),
        function=InterProQuantizedTokenizer(),
        residue_annotations=ResidueAnnotationsTokenizer(csv_path="unused.csv"),
    )
    with seeded(seed):
        return ESM3(
            d_model=d_model,
            n_heads=n_heads,
            v_heads=v_heads or max(1, n_heads // 2),
            n_layers=n_layers,
            structure_encoder_fn=_no_codec,
            structure_decoder_fn=_no_codec,
            function_decoder_fn=_no_codec,
            tokenizers=tokenizers,
        )


def _check_dtype(device: torch.device, dtype: torch.dtype) -> None:
    # The SDK's geometric attention keeps its rotations in fp32 through CUDA autocast; CPU autocast can't.
    if device.type == "cpu" and dtype != torch.float32:
        raise ValueError(f"ESM3 runs in {dtype} only on CUDA; on CPU use encoder.dtype=float32 (or auto)")


def _no_codec(device):
    raise RuntimeError("the tiny ESM3 twin has no structure/function codecs; m2t uses sequence embeddings only")


class Esm3Encoder(BatchedEncoder):
    def __init__(
        self, *, model: ESM3, encoder_id: str, token_budget: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        _check_dtype(device, dtype)
        super().__init__(
            model=model,
            tokenizer=model.tokenizers.sequence,
            encoder_id=encoder_id,
            hidden_size=model.encoder.sequence_embed.embedding_dim,
            max_length=MAX_RESIDUES,
            token_budget=token_budget,
            device=device,
            dtype=dtype,
        )

    @classmethod
    def tiny(cls, *, d_model: int, n_layers: int, n_heads: int, seed: int, **kw) -> Esm3Encoder:
        return cls(model=tiny_model(d_model=d_model, n_layers=n_layers, n_heads=n_heads, seed=seed), **kw)

    @classmethod
    def pretrained(cls, name: str, *, device: torch.device, dtype: torch.dtype, **kw) -> Esm3Encoder:
        """``esm3_sm_open_v1`` (or an SDK alias such as ``esm3-open``, or a name registered with
        ``esm.pretrained.register_local_model``); the id is ``esm3:<canonical name>``."""
        canonical = normalize_model_name(name)
        if canonical not in LOCAL_MODEL_REGISTRY or canonical.startswith(("esmc", "esm3_structure", "esm3_function")):
            raise ValueError(
                f"encoder.name {name!r} is not an ESM3 model: use {ESM3_OPEN_SMALL!r}, 'tiny', or a name "
                "registered with esm.pretrained.register_local_model"
            )
        _check_dtype(device, dtype)
        model = ESM3.from_pretrained(canonical, device=device)
        return cls(model=model, encoder_id=f"esm3:{canonical}", device=device, dtype=dtype, **kw)

    def forward_hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (b, t), mask (b, t) True = real token → embeddings (b, t, d).

        ESM3 attends within equal ``sequence_id`` values; without it padding changes the outputs.
        """
        return self.model(sequence_tokens=ids, sequence_id=mask).embeddings
