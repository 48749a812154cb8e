"""Cropping a (wild type, mutant) pair longer than the encoder takes to one window around the mutation(s).

The ESM encoders take at most 1,022 residues. A longer pair is cropped to the same residues of both: the window
holds every changed position (the span between the first and the last difference of the two sequences), centred
on that span where the protein allows. With an indel the mutant's window is the wild type's window with the indel
applied, so both show the same stretch of protein. Only a pair whose changes span more than a window cannot be
cropped, and is rejected with the reason.

The encoder sees the cropped residues, so the embedding store keys them by those residues: a cropped sequence and
the full sequence are different strings and never share an entry. Positions named anywhere else (records, prompts,
outputs) stay 1-based full-length wild-type coordinates; :class:`Window` records where the window starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from m2t.data.records import Record, Reject

LongSequences = Literal["crop", "reject"]


class CropError(ValueError):
    """A pair no window of the encoder's length can hold (or, with ``reject``, any pair longer than it)."""


@dataclass(frozen=True)
class Window:
    """What the encoder sees of a pair: ``wild_type``/``mutant`` residues from 0-based wild-type offset ``start``
    (0 and the whole sequences when nothing was cropped)."""

    wild_type: str
    mutant: str
    start: int
    cropped: bool


def changed_span(wild_type: str, mutant: str) -> tuple[int, int]:
    """``(a, b)``: the 0-based half-open wild-type span holding every difference (common prefix and suffix removed)."""
    n, m = len(wild_type), len(mutant)
    a = next((i for i in range(min(n, m)) if wild_type[i] != mutant[i]), min(n, m))
    s = next((i for i in range(min(n, m) - a) if wild_type[n - 1 - i] != mutant[m - 1 - i]), min(n, m) - a)
    return a, max(n - s, a)


def encoder_window(wild_type: str, mutant: str, *, max_residues: int, policy: LongSequences = "crop") -> Window:
    """The pair as the encoder takes it: unchanged when both fit ``max_residues``; else cropped (``crop``) or a
    :class:`CropError` (``reject``, or changes spanning more than a window)."""
    n, m = len(wild_type), len(mutant)
    if max(n, m) <= max_residues:
        return Window(wild_type, mutant, 0, False)
    if policy == "reject":
        raise CropError(
            f"a sequence of {max(n, m)} residues is longer than the {max_residues} the encoder takes "
            "(encoder.long_sequences=reject; crop keeps a window around the mutation instead)"
        )
    grow = m - n  # the mutant's window is the wild type's plus this many residues
    width = max_residues - max(grow, 0)  # wild-type residues in the window
    a, b = changed_span(wild_type, mutant)
    if b - a > width:
        raise CropError(
            f"the mutations span wild-type positions {a + 1}-{b} ({b - a} residues), more than a "
            f"window of the {max_residues} residues the encoder takes can hold"
        )
    start = min(max((a + b - width) // 2, 0), n - width)
    return Window(wild_type[start : start + width], mutant[start : start + width + grow], start, True)


def window_records(
    records: Sequence[Record], *, max_residues: int, policy: LongSequences, encoder_id: str
) -> tuple[list[tuple[Record, Window]], list[Reject]]:
    """``(kept, rejects)``: each record with the window the encoder sees (:func:`encoder_window`), or a reject
    (kind ``too_long_for_encoder``) naming the record and why no window holds it."""
    kept, rejects = [], []
    for r in records:
        try:
            kept.append((r, encoder_window(r.wild_type, r.mutant, max_residues=max_residues, policy=policy)))
        except CropError as exc:
            reason = f"record {r.id}: {exc} (encoder {encoder_id})"
            rejects.append(Reject(source=r.source, line=r.line, raw=r.id, kind="too_long_for_encoder", reason=reason))
    return kept, rejects
