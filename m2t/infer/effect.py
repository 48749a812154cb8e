"""Zero-shot effect score of a mutation: the protein language model's log-likelihood ratio, mutant vs wild type.

The *wild-type marginal* of ESM-1v (Meier et al., 2021): one unmasked forward pass of the encoder over the wild
type gives log-probabilities ``lp`` at every position, and a substitution ``W<i>M`` scores
``lp[i, M] - lp[i, W]`` (natural log); several substitutions score the sum over their sites. Negative = the model
finds the mutant residue less likely than the wild type's there (often damaging); the wild-type residue itself
scores exactly 0. The same pass gives the wild type's embedding, so every substitution of a wild type (a whole
saturation scan) costs that one pass; the masked-marginal variant would need one pass per position.

No score (``None``, with the reason in ``note``) for insertions and deletions, or for a set of mutations holding
one (no wild-type residue to compare with), and for non-standard residues (X, B, Z, U, O). For a pair cropped to
the encoder's window (:mod:`m2t.data.crop`) the log-probabilities are the wild-type *window's*: the score is
computed in the window's coordinates (``offset`` = the window's 0-based start), as the encoder saw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from m2t.data.notation import parse_mutations
from m2t.encoders.base import LOGPROB_ALPHABET

METHOD = "esm-wt-marginal"
METHOD_TEXT = (
    "wild-type marginal (ESM-1v, Meier et al. 2021): sum over the substituted sites of log p(mutant residue) - "
    "log p(wild-type residue), natural log, both from one unmasked pass of the encoder over the wild type (its "
    "window when cropped); 0 = as likely as the wild type, negative = less likely"
)
COLUMN = {aa: i for i, aa in enumerate(LOGPROB_ALPHABET)}


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
