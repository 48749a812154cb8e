"""The protein-encoder protocol and the batching every backend shares.

``embed(sequences) -> list of (L_i, D)`` per-residue embeddings, BOS/EOS stripped, in input order.
Batching is internal: sequences are sorted by length, cut into micro-batches of at most
``token_budget`` padded tokens with at most ``max_padding`` of them padding, and run with padding masks, so a batched result equals the
one-at-a-time result within floating-point tolerance.

``embed_and_logprobs(sequences)`` runs the same pass and also returns each residue's log-probabilities from the
model's language-model head (log-softmax over the whole vocabulary; columns: the 20 standard amino acids in
``LOGPROB_ALPHABET`` order), from which :mod:`m2t.infer.effect` scores substitutions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from m2t.data.amino_acids import EXTENDED, STANDARD

# ESM-2, ESM3 and ESM C were trained on crops of 1,024 tokens: 1,022 residues + BOS + EOS.
MAX_RESIDUES = 1022
ALPHABET = frozenset(STANDARD + EXTENDED)
LOGPROB_ALPHABET = STANDARD  # the columns of embed_and_logprobs' log-probabilities


@runtime_checkable
class ProteinEncoder(Protocol):
    encoder_id: str  # architecture + weights, e.g. "unirep:64", "esm2:tiny:d64-l2-h4-seed0" or "esm3:esm3_sm_open_v1"
    effect_method: str  # the zero-shot effect score of this family (m2t.infer.effect.METHODS)
    random_weights: bool  # a seeded random twin: its embeddings are noise and its effect scores mean nothing
    hidden_size: int
    max_length: int  # residues, BOS/EOS excluded
    max_padding: float  # largest padding share of a micro-batch (1.0 = no cap)
    device: torch.device
    dtype: torch.dtype

    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]: ...

    def embed_and_logprobs(self, sequences: Sequence[str]) -> tuple[list[torch.Tensor], list[torch.Tensor]]: ...


def resolve_device_dtype(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """``auto`` → cuda + bf16 when a GPU is visible, else cpu + fp32."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ValueError("encoder.device is 'cuda' but no GPU is visible here; use encoder.device=auto or cpu")
    dev = torch.device(device)
    if dtype == "auto":
        return dev, torch.bfloat16 if dev.type == "cuda" else torch.float32
    return dev, getattr(torch, dtype)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator for a block (random init of a tiny twin), then restore the caller's state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def micro_batches(
    lengths: Sequence[int], token_budget: int, max_padding: float = 1.0, *, rows: Sequence[int] | None = None
) -> list[list[int]]:
    """Indices grouped into length-sorted batches whose padded size ``n × (longest + 2)`` fits the budget
    and whose padding is at most ``max_padding`` of it (1.0 = no cap). ``rows``: how many rows each index stands
    for (a group that must share a batch; 1 each by default).

    A sequence longer than the budget on its own runs alone.
    """
    rows = rows or [1] * len(lengths)
    batches: list[list[int]] = []
    n = real = 0  # rows and real tokens (residues + BOS + EOS) of the last batch
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        # ascending order: lengths[i] is the longest of the batch it joins
        padded = (n + rows[i]) * (lengths[i] + 2) if batches else 0
        if batches and padded <= token_budget and real + rows[i] * (lengths[i] + 2) >= (1 - max_padding) * padded:
            batches[-1].append(i)
            n, real = n + rows[i], real + rows[i] * (lengths[i] + 2)
        else:
            batches.append([i])
            n, real = rows[i], rows[i] * (lengths[i] + 2)
    return batches


def check_sequences(sequences: Sequence[str], *, max_length: int, encoder_id: str) -> None:
    """Raise ValueError naming the first sequence an encoder of ``max_length`` residues cannot take, and why."""
    for i, seq in enumerate(sequences):
        if not isinstance(seq, str) or not seq:
            raise ValueError(f"sequence {i}: empty or not a string ({type(seq).__name__})")
        if len(seq) > max_length:
            raise ValueError(
                f"sequence {i}: length {len(seq)} exceeds the encoder's limit of {max_length} "
                f"residues ({encoder_id}); drop or crop it before embedding"
            )
        bad = next((p for p, c in enumerate(seq) if c not in ALPHABET), None)
        if bad is not None:
            raise ValueError(
                f"sequence {i}: {seq[bad]!r} at position {bad + 1} is not an amino-acid letter "
                f"(the encoder takes upper-case {STANDARD} and {EXTENDED})"
            )


class BatchedEncoder:
    """Shared driver of the ESM family: validation, tokenising, length-sorted micro-batches, masks, BOS/EOS stripping.

    ``tokenizer`` is an ESM vocabulary (transformers' ``EsmTokenizer`` or the SDK's
    ``EsmSequenceTokenizer``: one token per residue). Subclasses implement ``forward_logits`` (and
    ``forward_hidden`` when the hidden state alone is cheaper than both).
    Non-float32 dtypes run under ``torch.autocast``, as the ESM SDK does for its own inference.
    """

    effect_method = "esm-wt-marginal"

    def __init__(
        self,
        *,
        model: nn.Module,
        tokenizer,
        encoder_id: str,
        hidden_size: int,
        max_length: int,
        token_budget: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        letters = sorted(ALPHABET)
        self._token_ids = dict(
            zip(letters, tokenizer.convert_tokens_to_ids(letters), strict=True)
        )  # one lookup per residue
        self._logprob_ids = torch.tensor(tokenizer.convert_tokens_to_ids(list(LOGPROB_ALPHABET)))  # (20,)
        self.encoder_id, self.hidden_size, self.max_length = encoder_id, hidden_size, max_length
        self.token_budget, self.device, self.dtype = token_budget, device, dtype
        self.max_padding = 1.0  # padding share cap of micro_batches; build_encoder sets encoder.max_padding
        self.random_weights = False  # build_encoder sets it for the tiny twins
        self.forward_calls = 0  # micro-batches run; benchmarks and tests read it

    def forward_hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (b, t) with BOS … EOS and right padding, mask (b, t) bool True = real token → (b, t, d)."""
        return self.forward_logits(ids, mask)[0]

    def forward_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (b, t), mask (b, t) True = real token → the hidden state (b, t, d) and the LM head's logits
        (b, t, vocab) of the same pass."""
        raise NotImplementedError

    def tokenize(self, sequence: str) -> torch.Tensor:
        """``(L + 2,)`` token ids: BOS, one id per residue, EOS."""
        tok, ids = self.tokenizer, self._token_ids
        return torch.tensor([tok.cls_token_id, *(ids[c] for c in sequence), tok.eos_token_id])

    def check(self, sequences: Sequence[str]) -> None:
        """Raise ValueError naming the first sequence the encoder cannot take, and why."""
        check_sequences(sequences, max_length=self.max_length, encoder_id=self.encoder_id)

    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]:
        """Per-residue embeddings: one float32 CPU tensor ``(L_i, hidden_size)`` per input, in input order."""
        return self._encode(sequences, logprobs=False)[0]

    def embed_and_logprobs(self, sequences: Sequence[str]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(embeddings, logprobs)`` from one pass: :meth:`embed`'s embeddings and, per input, float32 CPU
        ``(L_i, 20)`` log-probabilities of the ``LOGPROB_ALPHABET`` residues at each position (unmasked input)."""
        return self._encode(sequences, logprobs=True)

    @torch.inference_mode()
    def _encode(self, sequences: Sequence[str], *, logprobs: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        sequences = list(sequences)
        self.check(sequences)
        out: list[torch.Tensor | None] = [None] * len(sequences)
        out_lp: list[torch.Tensor | None] = [None] * len(sequences) if logprobs else []
        autocast = torch.autocast(device_type=self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)
        for batch in micro_batches([len(s) for s in sequences], self.token_budget, self.max_padding):
            ids = nn.utils.rnn.pad_sequence(
                [self.tokenize(sequences[i]) for i in batch],
                batch_first=True,
                padding_value=self.tokenizer.pad_token_id,
            )  # (b, t)
            n_tokens = torch.tensor([len(sequences[i]) + 2 for i in batch])  # (b,) BOS + residues + EOS
            mask = torch.arange(ids.shape[1]) < n_tokens[:, None]  # (b, t) True = real token
            with autocast:
                if logprobs:
                    hidden, logits = self.forward_logits(ids.to(self.device), mask.to(self.device))  # (b, t, d/vocab)
                else:
                    hidden = self.forward_hidden(ids.to(self.device), mask.to(self.device))  # (b, t, d)
            hidden = hidden.float().cpu()
            if logprobs:  # normalised over the whole vocabulary, then the 20 residues' columns: (b, t, 20)
                lp = logits.float().log_softmax(dim=-1)[..., self._logprob_ids.to(logits.device)].cpu()
            self.forward_calls += 1
            for row, i in enumerate(batch):
                out[i] = hidden[row, 1 : len(sequences[i]) + 1].clone()  # strip BOS and EOS → (L_i, d), own storage
                if logprobs:
                    out_lp[i] = lp[row, 1 : len(sequences[i]) + 1].clone()  # (L_i, 20)
        return out, out_lp  # type: ignore[return-value]
