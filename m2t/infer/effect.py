"""Zero-shot effect scores of mutations from the protein language model, one method per encoder family, chosen by the
encoder (``encoder.effect_method``, a key of :data:`METHODS`), and where every score comes from (:class:`EffectSource`).

``esm-wt-marginal`` (ESM-2 / ESM3 / ESM C): the *wild-type marginal* of ESM-1v (Meier et al., 2021). One unmasked
pass over the wild type gives log-probabilities ``lp`` at every position, and a substitution ``W<i>M`` scores
``lp[i, M] - lp[i, W]`` (natural log); several substitutions score the sum over their sites. The wild-type residue
itself scores exactly 0. The same pass gives the wild type's embedding, so every substitution of a wild type (a whole
saturation scan) costs that one pass. No score (``None``, with the reason in ``note``) for insertions and deletions,
or for a set of mutations holding one, and for non-standard residues (X, B, Z, U, O).

``unirep-llr`` (UniRep): the log-likelihood ratio ``log p(mutant) - log p(wild type)`` under UniRep's next-residue
head, each sequence's log-likelihood being the sum of log p(residue | the residues before it) over its residues and
the end of the sequence. The terms before the first changed residue are equal, so the sum runs from the first changed
residue to the end; the mutant's pass starts from the wild type's states there (prefix reuse). Substitutions,
insertions and deletions all score.

Negative = the model finds the mutant less likely than the wild type (often damaging). For a pair cropped to the
encoder's window (:mod:`m2t.data.crop`) both work on the window, as the encoder saw it (``offset`` = its 0-based
start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from m2t.data.crop import Window
from m2t.data.notation import parse_mutations
from m2t.embed.identity import EncoderIdentity
from m2t.encoders import ProteinEncoder
from m2t.encoders.base import LOGPROB_ALPHABET
from m2t.encoders.unirep import Trace, common_prefix

COLUMN = {aa: i for i, aa in enumerate(LOGPROB_ALPHABET)}
RANDOM_WARNING = (
    "RANDOM WEIGHTS: {encoder_id} is a seeded random twin, not a trained model; its effect scores are noise and "
    "mean nothing about biology"
)


@dataclass(frozen=True)
class Effect:
    """A mutation's score, or ``None`` and the reason (``note``)."""

    score: float | None
    note: str | None = None


def effect_of(mutations: Sequence[str], wild_type: str, logprobs: torch.Tensor, *, offset: int = 0) -> Effect:
    """The wild-type-marginal score of ``mutations`` (notation, 1-based full-length positions) from the log-probs
    (L, 20) (columns ``LOGPROB_ALPHABET``) of ``wild_type`` (L residues: the encoder's window of the wild type,
    whose first residue is wild-type position ``offset + 1``)."""
    parsed = [m for text in mutations for m in parse_mutations(text)]
    if not parsed:
        return Effect(None, "no mutation: the mutant equals the wild type")
    if indels := [str(m) for m in parsed if m.kind != "sub"]:
        return Effect(
            None,
            f"no effect score for {', '.join(indels)}: the wild-type-marginal score covers substitutions only "
            "(an insertion or deletion has no single residue to compare with the wild type's)",
        )
    if odd := [str(m) for m in parsed if m.first not in COLUMN or m.alt not in COLUMN]:
        return Effect(None, f"no effect score for {', '.join(odd)}: it involves a non-standard residue (X, B, Z, U, O)")
    total = 0.0
    for m in parsed:
        row = m.start - 1 - offset
        if not 0 <= row < len(wild_type):
            raise ValueError(
                f"mutation {m} is outside the encoder's window (wild-type positions {offset + 1}-"
                f"{offset + len(wild_type)})"
            )
        if wild_type[row] != m.first:
            raise ValueError(
                f"mutation {m} expects {m.first} at position {m.start}, the wild type has {wild_type[row]}"
            )
        total += substitution_score(logprobs, row, m.first, m.alt)
    return Effect(total)


def substitution_score(logprobs: torch.Tensor, row: int, wild: str, alt: str) -> float:
    """``lp[row, alt] - lp[row, wild]`` of ``logprobs`` (L, 20): exactly 0 when ``alt`` is the wild-type residue."""
    return float(logprobs[row, COLUMN[alt]]) - float(logprobs[row, COLUMN[wild]])


def likelihood_ratio(wt_ll: torch.Tensor, mut_ll: torch.Tensor, first: int) -> Effect:
    """``sum(mut_ll[first:]) - sum(wt_ll[first:])`` of two sequences' per-token log-likelihoods (``L + 1`` each: the
    residues, then the end), ``first`` the index of their first difference (the terms before it are equal)."""
    if first == len(wt_ll) - 1 == len(mut_ll) - 1:
        return Effect(None, "no mutation: the mutant equals the wild type")
    return Effect(float(mut_ll[first:].double().sum() - wt_ll[first:].double().sum()))


class WildTypeMarginal:
    """``esm-wt-marginal``: what the wild type's pass keeps is its (L, 20) log-probability table; no mutant pass."""

    name = "esm-wt-marginal"
    about = (
        "wild-type marginal (ESM-1v, Meier et al. 2021): sum over the substituted sites of log p(mutant residue) - "
        "log p(wild-type residue), natural log, both from one unmasked pass of the encoder over the wild type (its "
        "window when cropped); 0 = as likely as the wild type, negative = less likely; no score for insertions and "
        "deletions"
    )
    mutant_pass = False

    def wild_types(self, encoder: ProteinEncoder, sequences: list[str], *, every: int) -> list[tuple]:
        """``(embedding (L, D), log-probabilities (L, 20))`` per sequence, from one pass."""
        return list(zip(*encoder.embed_and_logprobs(sequences), strict=True))

    def mutants(self, encoder: ProteinEncoder, sequences: list[str], kept: list, *, embeddings: bool) -> list[tuple]:
        raise NotImplementedError("the wild-type marginal needs no pass over the mutant")

    def effect(self, mutations: Sequence[str], window: Window, kept: torch.Tensor, mutant: object) -> Effect:
        return effect_of(mutations, window.wild_type, kept, offset=window.start)


class LikelihoodRatio:
    """``unirep-llr``: the wild type's pass keeps its :class:`Trace` (states every ``every`` steps); each mutant's
    pass starts from it and gives the mutant's per-token log-likelihoods."""

    name = "unirep-llr"
    about = (
        "log-likelihood ratio under UniRep's next-residue head (Alley et al. 2019): log p(mutant) - log p(wild type), "
        "natural log, each the sum of log p(residue | the residues before it) over the sequence and its end; the "
        "terms before the first changed residue are equal, so the sum runs from the first changed residue to the end "
        "(over the encoder's window when cropped); 0 = as likely as the wild type, negative = less likely; "
        "substitutions, insertions and deletions"
    )
    mutant_pass = True

    def wild_types(self, encoder: ProteinEncoder, sequences: list[str], *, every: int) -> list[tuple]:
        return [(t.embedding, t) for t in encoder.trace(sequences, every=every)]

    def mutants(self, encoder: ProteinEncoder, sequences: list[str], kept: list, *, embeddings: bool) -> list[tuple]:
        """``(embedding (L, D) or None, token_ll (L + 1,))`` per mutant, each from its wild type's trace."""
        return [(e.embedding, e.token_ll) for e in encoder.encode(sequences, references=kept, embeddings=embeddings)]

    def together(
        self, encoder: ProteinEncoder, wild_types: list[str], mutants: list[str], of: list[int], *, every: int
    ) -> tuple[list[tuple], list[tuple]]:
        """:meth:`wild_types` and :meth:`mutants` from one pass: mutant ``j`` forks from ``wild_types[of[j]]``."""
        traces, encoded = encoder.trace_with_variants(wild_types, mutants, of, every=every)
        return [(t.embedding, t) for t in traces], [(e.embedding, e.token_ll) for e in encoded]

    def effect(self, mutations: Sequence[str], window: Window, kept: Trace, mutant: torch.Tensor) -> Effect:
        return likelihood_ratio(kept.token_ll, mutant, common_prefix(window.wild_type, window.mutant))


METHODS = {m.name: m for m in (WildTypeMarginal(), LikelihoodRatio())}


@dataclass(frozen=True)
class EffectSource:
    """Where a score comes from, as every output names it: the method, the encoder, and a loud warning when the
    encoder's weights are random."""

    method: str
    encoder_id: str
    random_weights: bool

    @classmethod
    def of(cls, encoder: ProteinEncoder | EncoderIdentity) -> EffectSource:
        return cls(encoder.effect_method, encoder.encoder_id, bool(encoder.random_weights))

    @property
    def about(self) -> str:
        return METHODS[self.method].about

    @property
    def warning(self) -> str | None:
        return RANDOM_WARNING.format(encoder_id=self.encoder_id) if self.random_weights else None

    @property
    def label(self) -> str:
        """One line: ``unirep-llr (unirep:64)``, or ``... — RANDOM WEIGHTS, meaningless`` for a random twin."""
        return f"{self.method} ({self.encoder_id})" + (" — RANDOM WEIGHTS, meaningless" if self.random_weights else "")

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "encoder_id": self.encoder_id,
            "random_weights": self.random_weights,
            "warning": self.warning,
            "about": self.about,
        }
