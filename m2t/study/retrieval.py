"""The retrieval baseline: the reference text of the nearest training mutation.

For a test mutation: the training wild type most similar to its wild type (Jaccard similarity of their sets of
k-residue words, k = 5 by default: two unrelated proteins share almost none), then among that protein's training
rows the one whose residue change is closest (nearest position, then the same new residue); when no training wild
type shares a single k-mer, the most frequent training answer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from m2t.data.notation import parse_mutations
from m2t.data.records import Record


def kmers(sequence: str, k: int) -> frozenset[str]:
    return frozenset(sequence[i : i + k] for i in range(len(sequence) - k + 1))


def change(record: Record) -> tuple[int, str]:
    """``(position, new residues)`` of a record's first mutation (1-based, wild-type coordinates)."""
    first = parse_mutations(record.mutations[0])[0] if record.mutations else None
    return (first.start, first.alt) if first is not None else (0, "")


class Retrieval:
    """Nearest-neighbour answers from ``train`` (see the module docstring)."""

    def __init__(self, train: Sequence[Record], *, k: int = 5) -> None:
        self.k = k
        self.rows: dict[str, list[Record]] = defaultdict(list)
        for r in train:
            self.rows[r.wild_type].append(r)
        self.words = {wt: kmers(wt, k) for wt in self.rows}
        self.fallback = Counter(r.description for r in train).most_common(1)[0][0]

    def nearest_wild_type(self, wild_type: str) -> tuple[str | None, float]:
        """The most similar training wild type and its similarity (None, 0.0 when none shares a k-mer)."""
        mine = kmers(wild_type, self.k)
        best, score = None, 0.0
        for wt, words in self.words.items():
            common = len(mine & words)
            if common and (similarity := common / len(mine | words)) > score:
                best, score = wt, similarity
        return best, score

    def predict(self, record: Record) -> str:
        wt, _ = self.nearest_wild_type(record.wild_type)
        if wt is None:
            return self.fallback
        position, alt = change(record)
        nearest = min(self.rows[wt], key=lambda r: (abs(change(r)[0] - position), change(r)[1] != alt))
        return nearest.description
