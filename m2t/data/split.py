"""Train/val/test split grouped by wild-type protein, so no protein is in two splits.

Records are grouped by their accession (``protein_id``) when known, else by the wild-type sequence
hash; records that share either one are in the same group, so a protein known under an accession in
one file and only by its sequence in another still lands in one split. Groups are shuffled with the
seed and dealt out: test first, then val, each until it holds its fraction of the records; the rest
is train. The same records and seed always give the same split.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from m2t.data.records import Record

SPLITS = ("train", "val", "test")


def sequence_key(sequence: str) -> str:
    """``seq:`` + the first 16 hex digits of the sequence's SHA-256."""
    return "seq:" + hashlib.sha256(sequence.encode()).hexdigest()[:16]


def protein_groups(records: Sequence[Record]) -> list[list[int]]:
    """Indices of ``records`` grouped by protein (shared accession or shared wild type), sorted by group key."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys = []
    for r in records:
        seq_key = sequence_key(r.wild_type)
        if r.protein_id:
            a, b = find("id:" + r.protein_id), find(seq_key)
            parent[max(a, b)] = min(a, b)
        keys.append(seq_key)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(find(key), []).append(i)
    return [groups[k] for k in sorted(groups)]


def split_records(
    records: Sequence[Record], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Record]]:
    """``{"train": [...], "val": [...], "test": [...]}``, grouped by protein, in input order within each split.

    A split with a fraction above 0 gets at least one group while another group is left for train."""
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be >= 0 and sum to less than 1"
        )
    groups = protein_groups(records)
    random.Random(seed).shuffle(groups)
    assigned: dict[str, list[int]] = {name: [] for name in SPLITS}
    remaining = len(groups)
    for name, fraction in (("test", test_fraction), ("val", val_fraction)):
        target = fraction * len(records)
        while fraction > 0 and remaining > 1 and (not assigned[name] or len(assigned[name]) < target):
            remaining -= 1
            assigned[name] += groups[remaining]
    assigned["train"] = [i for group in groups[:remaining] for i in group]
    return {name: [records[i] for i in sorted(idx)] for name, idx in assigned.items()}
