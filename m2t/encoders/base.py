"""The protein-encoder protocol and the batching every backend shares.

``embed(sequences) -> list of (L_i, D)`` per-residue embeddings, BOS/EOS stripped, in input order.
Batching is internal: sequences are sorted by length, cut into micro-batches of at most
``token_budget`` padded tokens, and run with padding masks, so a batched result equals the
one-at-a-time result within floating-point tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class ProteinEncoder(Protocol):
    encoder_id: str  # architecture + weights, e.g. "esm2:tiny:d64-l2-h4-seed0" or "esm3:esm3_sm_open_v1"
    hidden_size: int
    max_length: int  # residues, BOS/EOS excluded
    device: torch.device
    dtype: torch.dtype

    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]: ...


def resolve_device_dtype(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """``auto`` → cuda + bf16 when a GPU is visible, else cpu + fp32."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    if dtype == "auto":
        return dev, torch.bfloat16 if dev.type == "cuda" else torch.float32
    return dev, getattr(torch, dtype)


def micro_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Indices grouped into length-sorted batches whose padded size (n × (longest + 2)) fits the budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        padded = (lengths[i] + 2) * (len(batches[-1]) + 1) if batches else None
        if batches and padded is not None and padded <= token_budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class BatchedEncoder:
    """Shared driver: validation, length-sorted micro-batches, masks, BOS/EOS stripping.

    Subclasses set ``model``, ``pad_id`` and implement ``tokenize(seq) -> LongTensor (L+2,)`` and
    ``forward_hidden(ids (b, t), mask (b, t) bool True=token) -> (b, t, d)``.
    """

    def __init__(self, *, model: nn.Module, encoder_id: str, hidden_size: int, max_length: int,
                 pad_id: int, token_budget: int, device: torch.device, dtype: torch.dtype) -> None:
        self.model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.encoder_id, self.hidden_size, self.max_length = encoder_id, hidden_size, max_length
        self.pad_id, self.token_budget, self.device, self.dtype = pad_id, token_budget, device, dtype
        self.forward_calls = 0  # micro-batches run; benchmarks and tests read it

    def tokenize(self, sequence: str) -> torch.Tensor:
        raise NotImplementedError

    def forward_hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check(self, sequences: Sequence[str]) -> None:
        for i, seq in enumerate(sequences):
            if not isinstance(seq, str) or not seq:
                raise ValueError(f"sequence {i}: empty or not a string")
            if len(seq) > self.max_length:
                raise ValueError(f"sequence {i}: length {len(seq)} exceeds the encoder's limit of "
                                 f"{self.max_length} residues ({self.encoder_id})")

    @torch.inference_mode()
    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]:
        """Per-residue embeddings: one float32 CPU tensor ``(L_i, hidden_size)`` per input, in order."""
        sequences = list(sequences)
        self._check(sequences)
        out: list[torch.Tensor | None] = [None] * len(sequences)
        for batch in micro_batches([len(s) for s in sequences], self.token_budget):
            ids = nn.utils.rnn.pad_sequence([self.tokenize(sequences[i]) for i in batch],
                                            batch_first=True, padding_value=self.pad_id).to(self.device)  # (b, t)
            mask = ids != self.pad_id  # (b, t) True = real token (BOS/EOS included)
            hidden = self.forward_hidden(ids, mask)  # (b, t, d)
            self.forward_calls += 1
            for row, i in enumerate(batch):
                n = len(sequences[i])
                out[i] = hidden[row, 1:n + 1].float().cpu()  # strip BOS and EOS → (L_i, d)
        return out  # type: ignore[return-value]
