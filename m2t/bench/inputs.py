"""MutaDescribe-shaped benchmark records: the real test_medium.csv rows, scaled down, or synthetic look-alikes.

``test_medium.csv`` has 384 mutants of 198 wild types (1.94 per wild type) from 68 proteins, wild
types of 176-1,024 residues (median 477), single substitutions (many in both directions, C23S and
S23C, so its 768 sequences hold only 322 distinct ones) and real description texts.
:func:`benchmark_records` draws whole proteins (accessions) until it has ``wild_types`` wild types,
each time the one of the next few in a seeded order that keeps mutants per wild type and distinct
sequences per sequence closest to the file's. It shrinks every sequence to ``length_scale`` of its
length, keeping every mutated site and evenly spaced other residues (the same positions for all the
sequences of a protein, so equal sequences stay equal and substitutions stay substitutions). Without
the file it generates synthetic records with the file's ratio and length range, scaled alike.
"""

from __future__ import annotations

import random
import statistics
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from m2t.config import REPO_ROOT
from m2t.data.notation import derive_mutations
from m2t.data.readers import read_records
from m2t.data.records import Record
from m2t.data.synthetic import generate

MUTADESCRIBE = REPO_ROOT.parent / "shared" / "data" / "mutadescribe" / "test_medium.csv"
# test_medium.csv's shape, for the synthetic stand-in
MIN_LENGTH, MAX_LENGTH, MUTANTS_PER_WT = 176, 1024, 2


def _shrink(group: list[Record], length_scale: float, min_length: int) -> list[Record]:
    """One protein's records with every sequence cut to ``length_scale`` of its length by one shared choice of
    residue positions: every mutated site plus evenly spaced others, so which sequences are equal, and
    which substitution turns one into another, stays exactly as in the file."""
    sequences = {s for r in group for s in (r.wild_type, r.mutant)}
    n = len(group[0].wild_type)
    if len({len(s) for s in sequences}) != 1:
        raise ValueError(
            f"protein {group[0].protein_id}: sequences of different lengths; the benchmark inputs "
            f"expect substitutions only (as in MutaDescribe)"
        )
    length = max(min_length, round(n * length_scale))
    if length >= n:
        return group
    variable = [i for i in range(n) if len({s[i] for s in sequences}) > 1]
    invariant = [i for i in range(n) if i not in set(variable)]
    k = max(length - len(variable), 0)
    keep = sorted(set(variable) | {invariant[(j * len(invariant)) // k] for j in range(k)})

    def cut(s: str) -> str:
        return "".join(s[i] for i in keep)

    return [
        replace(
            r,
            wild_type=cut(r.wild_type),
            mutant=cut(r.mutant),
            mutations=tuple(derive_mutations(cut(r.wild_type), cut(r.mutant))),
        )
        for r in group
    ]


def _shape(records: list[Record]) -> tuple[float, float]:
    """(mutants per wild type, distinct sequences per sequence)."""
    wts = {r.wild_type for r in records}
    return len(records) / len(wts), len(wts | {r.mutant for r in records}) / (2 * len(records))


def _draw_proteins(records: list[Record], *, wild_types: int, seed: int, lookahead: int = 4) -> list[list[Record]]:
    """Whole proteins, in seeded order, each the one of the next ``lookahead`` that best keeps the file's shape."""
    groups: OrderedDict[str, list[Record]] = OrderedDict()
    for r in records:
        groups.setdefault(r.protein_id or r.wild_type, []).append(r)
    order = list(groups)
    random.Random(seed).shuffle(order)
    target = _shape(records)
    chosen: list[list[Record]] = []

    def cost(key: str) -> float:
        ratio, distinct = _shape([r for g in chosen for r in g] + groups[key])
        return abs(ratio - target[0]) / target[0] + abs(distinct - target[1]) / target[1]

    while order and len({r.wild_type for g in chosen for r in g}) < wild_types:
        best = min(order[:lookahead], key=cost)
        order.remove(best)
        chosen.append(groups[best])
    return chosen


def benchmark_records(
    *, wild_types: int, length_scale: float, min_length: int = 20, seed: int = 0, source: Path | None = MUTADESCRIBE
) -> list[Record]:
    """About ``wild_types`` × 1.94 records shaped like MutaDescribe's test_medium split (see the module doc)."""
    if source is not None and source.is_file():
        records = read_records([source], max_length=MAX_LENGTH, extended_alphabet=True).accepted
        return [
            r
            for group in _draw_proteins(records, wild_types=wild_types, seed=seed)
            for r in _shrink(group, length_scale, min_length)
        ]
    return generate(
        n_proteins=wild_types,
        mutants_per_protein=MUTANTS_PER_WT,
        min_length=max(min_length, round(MIN_LENGTH * length_scale)),
        max_length=max(min_length, round(MAX_LENGTH * length_scale)),
        seed=seed,
    )


def describe_inputs(records: list[Record]) -> dict:
    """The shape of a record set: counts of records / distinct sequences and wild-type lengths."""
    wts = list(dict.fromkeys(r.wild_type for r in records))
    lengths = [len(w) for w in wts]
    return {
        "records": len(records),
        "wild_types": len(wts),
        "distinct_mutants": len({r.mutant for r in records}),
        "distinct_sequences": len({s for r in records for s in (r.wild_type, r.mutant)}),
        "sequences": 2 * len(records),
        "residues": sum(len(r.wild_type) + len(r.mutant) for r in records),
        "wt_length": {"min": min(lengths), "median": statistics.median(lengths), "max": max(lengths)},
        "source": records[0].source if records else None,
    }
