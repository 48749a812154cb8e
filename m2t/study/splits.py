"""Leak-free study sets from MutaDescribe files: a training pool split by protein into train/val, and test files.

The shared files overlap by protein (``val_sample`` holds 4 of ``test_medium``'s proteins), so every pool row whose
protein (same accession, or same wild-type sequence) is in any test file is dropped before the split, and the
result is checked: no protein is in both the training side and a test file.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from m2t.data.readers import read_records
from m2t.data.records import Record, Reject
from m2t.data.split import split_records
from m2t.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class StudySets:
    """``train``/``val`` (the pool, split by protein), ``tests`` (file stem -> records) and what was set aside."""

    train: list[Record]
    val: list[Record]
    tests: dict[str, list[Record]]
    rejects: list[Reject]  # rows refused when reading (the readers' reasons)
    removed: int  # pool rows dropped because their protein is in a test file
    shared_proteins: int  # proteins in both the training side and a test file after the drop: must be 0


def proteins(records: Sequence[Record]) -> tuple[set[str], set[str]]:
    """The accessions and the wild-type sequences of ``records``: a protein is the same when either matches."""
    return {r.protein_id for r in records if r.protein_id}, {r.wild_type for r in records}


def shared(a: Sequence[Record], b: Sequence[Record]) -> int:
    """How many proteins of ``a`` are also in ``b`` (by accession or wild-type sequence)."""
    accessions, sequences = proteins(b)
    return len({r.protein_id or r.wild_type for r in a if r.protein_id in accessions or r.wild_type in sequences})


def study_sets(
    *, pool: Sequence[Path], tests: Sequence[Path], val_fraction: float, seed: int, max_length: int
) -> StudySets:
    """Read ``pool`` and ``tests``, drop every pool row of a test protein, split the rest by protein."""
    limits = {"max_length": max_length, "extended_alphabet": False}
    read = read_records(list(pool), **limits)
    test_sets, rejects = {}, list(read.rejects)
    for path in tests:
        result = read_records([path], **limits)
        if path.stem in test_sets:
            raise InputError(f"two test files are named {path.stem}; give each test file a distinct name")
        test_sets[path.stem] = [r for r in result.accepted if r.description]
        rejects += result.rejects
    every_test = [r for records in test_sets.values() for r in records]
    accessions, sequences = proteins(every_test)
    kept = [
        r for r in read.accepted if r.description and r.protein_id not in accessions and r.wild_type not in sequences
    ]
    splits = split_records(kept, val_fraction=val_fraction, test_fraction=0.0, seed=seed)
    sets = StudySets(
        train=splits["train"],
        val=splits["val"],
        tests=test_sets,
        rejects=rejects,
        removed=len(read.accepted) - len(kept),
        shared_proteins=shared(splits["train"] + splits["val"], every_test),
    )
    if sets.shared_proteins:
        raise InputError(f"{sets.shared_proteins} proteins are in both the training side and a test file")
    return sets


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Caps for ``--quick`` (None: everything)."""

    train_rows: int | None = None
    val_rows: int | None = None
    test_rows: int | None = None


def capped(sets: StudySets, limits: Limits, *, sample: int | None = None, seed: int = 0) -> StudySets:
    """``sets`` within ``limits`` (the first rows), and each test file down to a seeded ``sample`` of its rows (in
    file order)."""

    def cap(records: list[Record], n: int | None) -> list[Record]:
        return records if n is None else records[:n]

    def sampled(records: list[Record]) -> list[Record]:
        if sample is None or sample >= len(records):
            return records
        return [records[i] for i in sorted(random.Random(seed).sample(range(len(records)), sample))]

    tests = {name: cap(sampled(records), limits.test_rows) for name, records in sets.tests.items()}
    return StudySets(
        train=cap(sets.train, limits.train_rows),
        val=cap(sets.val, limits.val_rows),
        tests=tests,
        rejects=sets.rejects,
        removed=sets.removed,
        shared_proteins=sets.shared_proteins,
    )


def data_summary(sets: StudySets, *, in_file: dict[str, int]) -> dict:
    """Rows and proteins of each set; a test file's ``in_file`` is its rows before ``capped`` (what was scored is
    ``rows``)."""

    def count(records: list[Record]) -> dict:
        return {"rows": len(records), "proteins": len({r.protein_id or r.wild_type for r in records})}

    return {
        "train": count(sets.train),
        "val": count(sets.val),
        "tests": {name: {**count(records), "in_file": in_file[name]} for name, records in sets.tests.items()},
        "rejected_on_reading": len(sets.rejects),
        "removed_for_test_proteins": sets.removed,
        "proteins_in_train_and_test": sets.shared_proteins,
    }
