"""ESM-2 through transformers' ``EsmForMaskedLM``: a hub id or a local directory, or a tiny random twin.

Real weights: ``facebook/esm2_t6_8M_UR50D`` (320-d), ``..._t12_35M_UR50D`` (480-d),
``..._t30_150M_UR50D`` (640-d), ``..._t33_650M_UR50D`` (1280-d), ``..._t36_3B_UR50D`` (2560-d), or a
local directory holding ``config.json``, the weights (with the masked-LM head, ``lm_head.*``) and ``vocab.txt``.
The tiny twin is built offline from ``EsmConfig`` with the 33-token ESM-2 vocabulary written here.

Embeddings are the body's (``model.esm``) last hidden state; the LM head (``model.lm_head``) runs on that same
state only when log-probabilities are asked for (:meth:`BatchedEncoder.embed_and_logprobs`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from transformers import EsmConfig, EsmForMaskedLM, EsmModel, EsmTokenizer

from m2t.encoders.base import MAX_RESIDUES, BatchedEncoder, seeded

# ESM-2's vocabulary, in its order (cls = 0, pad = 1, eos = 2, unk = 3, mask = 32).
VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTDQIKPNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]


def tiny_tokenizer() -> EsmTokenizer:
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text("\n".join(VOCAB) + "\n")
        return EsmTokenizer(vocab_file=str(vocab))


def tiny_model(*, d_model: int, n_layers: int, n_heads: int, seed: int) -> EsmModel:
    """A random ESM-2 with ESM-2's vocabulary, rotary positions and token-dropout scaling."""
    config = EsmConfig(
        vocab_size=len(VOCAB),
        hidden_size=d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=2 * d_model,
        pad_token_id=1,
        mask_token_id=32,
        position_embedding_type="rotary",
        token_dropout=True,
        max_position_embeddings=MAX_RESIDUES + 4,
    )
    with seeded(seed):
        return EsmModel(config, add_pooling_layer=False)


def tiny_masked_lm(*, d_model: int, n_layers: int, n_heads: int, seed: int) -> EsmForMaskedLM:
    """:func:`tiny_model` (the same body weights for the same seed) with a seeded random masked-LM head whose
    decoder is tied to the token embeddings, as in ESM-2."""
    body = tiny_model(d_model=d_model, n_layers=n_layers, n_heads=n_heads, seed=seed)
    with seeded(seed):
        masked_lm = EsmForMaskedLM(body.config)
    masked_lm.esm = body
    masked_lm.tie_weights()
    return masked_lm


class Esm2Encoder(BatchedEncoder):
    """ESM-2's last hidden state (after the final layer norm) per residue; logits from its masked-LM head."""

    def __init__(
        self,
        *,
        model: EsmForMaskedLM,
        tokenizer: EsmTokenizer,
        encoder_id: str,
        token_budget: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        # max_position_embeddings is 1,026 for ESM-2 (two slots beyond BOS/EOS are never used)
        max_length = min(MAX_RESIDUES, model.config.max_position_embeddings - 4)
        super().__init__(
            model=model,
            tokenizer=tokenizer,
            encoder_id=encoder_id,
            hidden_size=model.config.hidden_size,
            max_length=max_length,
            token_budget=token_budget,
            device=device,
            dtype=dtype,
        )

    @classmethod
    def tiny(cls, *, d_model: int, n_layers: int, n_heads: int, seed: int, **kw) -> Esm2Encoder:
        return cls(
            model=tiny_masked_lm(d_model=d_model, n_layers=n_layers, n_heads=n_heads, seed=seed),
            tokenizer=tiny_tokenizer(),
            **kw,
        )

    @classmethod
    def pretrained(cls, name: str, *, dtype: torch.dtype, **kw) -> Esm2Encoder:
        """A hub id (downloads to the Hugging Face cache) or a local directory; the id is ``esm2:<name>``.

        A ValueError when the weights have no masked-LM head (e.g. saved from a bare ``EsmModel``): a random head
        would give made-up effect scores."""
        model, info = EsmForMaskedLM.from_pretrained(name, torch_dtype=dtype, output_loading_info=True)
        if missing := [k for k in info["missing_keys"] if k.startswith("lm_head.")]:
            raise ValueError(
                f"ESM-2 weights {name!r} have no masked-LM head (missing {', '.join(missing)}); m2t scores "
                "mutations with it: use the hub's facebook/esm2_* weights or a directory saved from EsmForMaskedLM"
            )
        return cls(
            model=model, tokenizer=EsmTokenizer.from_pretrained(name), encoder_id=f"esm2:{name}", dtype=dtype, **kw
        )

    def forward_hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (b, t), mask (b, t) True = real token → last hidden state (b, t, d) (the LM head does not run)."""
        return self.model.esm(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    def forward_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (b, t), mask (b, t) True = real token → last hidden state (b, t, d), LM logits (b, t, 33)."""
        hidden = self.forward_hidden(ids, mask)
        return hidden, self.model.lm_head(hidden)
