"""ESM-2 through transformers' ``EsmModel``: a hub id or a local directory, or a tiny random twin.

Real weights: ``facebook/esm2_t6_8M_UR50D`` (320-d), ``..._t12_35M`` (480-d), ``..._t30_150M`` (640-d),
``..._t33_650M`` (1280-d), ``..._t36_3B`` (2560-d), or a local directory holding ``config.json``,
``model.safetensors`` and ``vocab.txt``. The tiny twin is built offline from ``EsmConfig`` with a
33-token vocab written here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from transformers import EsmConfig, EsmModel, EsmTokenizer

from m2t.encoders.base import BatchedEncoder

# ESM-2's vocabulary, in its order (pad = 1, mask = 32).
VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTDQIKPNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
MAX_POSITIONS = 1026  # 1,024 residues + BOS + EOS


def tiny_tokenizer() -> EsmTokenizer:
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text("\n".join(VOCAB) + "\n")
        return EsmTokenizer(vocab_file=str(vocab))


def tiny_model(*, d_model: int, n_layers: int, n_heads: int, seed: int) -> EsmModel:
    config = EsmConfig(vocab_size=len(VOCAB), hidden_size=d_model, num_hidden_layers=n_layers,
                       num_attention_heads=n_heads, intermediate_size=2 * d_model, pad_token_id=1,
                       mask_token_id=32, position_embedding_type="rotary", token_dropout=True,
                       max_position_embeddings=MAX_POSITIONS)
    torch.manual_seed(seed)
    return EsmModel(config, add_pooling_layer=False)


class Esm2Encoder(BatchedEncoder):
    def __init__(self, *, model: EsmModel, tokenizer: EsmTokenizer, encoder_id: str, token_budget: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.tokenizer = tokenizer
        super().__init__(model=model, encoder_id=encoder_id, hidden_size=model.config.hidden_size,
                         max_length=model.config.max_position_embeddings - 2, pad_id=tokenizer.pad_token_id,
                         token_budget=token_budget, device=device, dtype=dtype)

    @classmethod
    def pretrained(cls, name: str, **kw) -> Esm2Encoder:
        """A hub id (needs network) or a local directory."""
        return cls(model=EsmModel.from_pretrained(name, add_pooling_layer=False),
                   tokenizer=EsmTokenizer.from_pretrained(name), encoder_id=f"esm2:{name}", **kw)

    def tokenize(self, sequence: str) -> torch.Tensor:
        return torch.tensor(self.tokenizer.encode(sequence), dtype=torch.long)  # (L+2,) with <cls> … <eos>

    def forward_hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (b, t), mask (b, t) True = token → last hidden state (b, t, d)."""
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
