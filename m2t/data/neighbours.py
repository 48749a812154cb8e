"""The nearest known mutation: for a query mutation, the description of the closest mutation of the most similar
protein of an index of described records (the training split), never of the query's own protein.

Similarity of two wild types is the Jaccard similarity of their sets of k-residue words (k = 5 by default: two
unrelated proteins share almost none), found through an inverted index of the words (each query touches only the
proteins that share one). Among the chosen protein's records the one whose change is closest wins (nearest position,
then the same new residues, then the first in index order); when no other protein shares a word, the index's most
frequent description. The query's own protein (the same wild type, or the same accession) is left out, so a training
row's neighbour comes from another protein, as a test row's does.

It serves the study's retrieval baseline and the ``neighbour`` prompt field (``model.prompt_fields``). The index
is saved beside a checkpoint trained with that field (:meth:`NeighbourIndex.save`), so every job that describes
with the checkpoint finds the same neighbours.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from m2t.atomic import atomic_write
from m2t.data.notation import parse_mutations
from m2t.data.records import Record

COLUMNS = ("protein_id", "wild_type", "mutations", "description")
NEIGHBOURS = "neighbours.parquet"  # the index's file name beside a split and in a checkpoint


def kmers(sequence: str, k: int) -> frozenset[str]:
    return frozenset(sequence[i : i + k] for i in range(len(sequence) - k + 1))


def change(mutations: Sequence[str]) -> tuple[int, str]:
    """``(position, new residues)`` of the first mutation (1-based, wild-type coordinates); ``(0, '')`` for none."""
    first = parse_mutations(mutations[0])[0] if mutations else None
    return (first.start, first.alt) if first is not None else (0, "")


class NeighbourIndex:
    """Nearest-mutation descriptions from ``rows`` (dicts with the :data:`COLUMNS`; records: :meth:`of_records`)."""

    def __init__(self, rows: Sequence[dict], *, k: int = 5) -> None:
        if not rows:
            raise ValueError("a neighbour index needs at least one described record")
        self.k = k
        self.rows = [{**{c: r[c] for c in COLUMNS}, "mutations": tuple(r["mutations"] or ())} for r in rows]
        self.proteins: list[str] = list(dict.fromkeys(r["wild_type"] for r in self.rows))  # in index order
        number = {wt: i for i, wt in enumerate(self.proteins)}
        self.members: list[list[dict]] = [[] for _ in self.proteins]
        self.accessions: list[set[str]] = [set() for _ in self.proteins]
        for r in self.rows:
            self.members[number[r["wild_type"]]].append(r)
            if r["protein_id"]:
                self.accessions[number[r["wild_type"]]].add(r["protein_id"])
        self.sizes = [0] * len(self.proteins)
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, wt in enumerate(self.proteins):
            words = kmers(wt, k)
            self.sizes[i] = len(words)
            for word in words:
                self.postings[word].append(i)
        self.fallback = Counter(r["description"] for r in self.rows).most_common(1)[0][0]

    @classmethod
    def of_records(cls, records: Sequence[Record], *, k: int = 5) -> NeighbourIndex:
        described = [r for r in records if r.description]
        return cls([{c: getattr(r, c) for c in COLUMNS} for r in described], k=k)

    def nearest_protein(self, wild_type: str, *, protein_id: str | None = None) -> tuple[int | None, float]:
        """The index number of the most similar other protein and its similarity (None, 0.0 when none shares a
        word); ties go to the first in index order."""
        mine = kmers(wild_type, self.k)
        common: Counter[int] = Counter()
        for word in mine:
            common.update(self.postings.get(word, ()))
        best, score = None, 0.0
        for i in sorted(common):
            if self.proteins[i] == wild_type or (protein_id and protein_id in self.accessions[i]):
                continue  # the query's own protein
            similarity = common[i] / (len(mine) + self.sizes[i] - common[i])
            if similarity > score:
                best, score = i, similarity
        return best, score

    def describe(self, *, wild_type: str, mutations: Sequence[str], protein_id: str | None = None) -> str:
        """The description of the nearest other protein's closest mutation (see the module docstring)."""
        i, _ = self.nearest_protein(wild_type, protein_id=protein_id)
        if i is None:
            return self.fallback
        position, alt = change(mutations)
        nearest = min(
            self.members[i], key=lambda r: (abs(change(r["mutations"])[0] - position), change(r["mutations"])[1] != alt)
        )
        return nearest["description"]

    def save(self, path: str | Path) -> Path:
        table = pa.table(
            {c: [r[c] if c != "mutations" else list(r[c]) for r in self.rows] for c in COLUMNS},
            schema=pa.schema(
                [
                    ("protein_id", pa.string()),
                    ("wild_type", pa.string()),
                    ("mutations", pa.list_(pa.string())),
                    ("description", pa.string()),
                ]
            ),
        )
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def load(cls, path: str | Path, *, k: int = 5) -> NeighbourIndex:
        return cls(pq.read_table(path).to_pylist(), k=k)
