"""The grouped split: no protein in two splits, fractions met, deterministic per seed."""

from __future__ import annotations

import dataclasses

import pytest

from m2t.data.split import protein_groups, split_records
from m2t.data.synthetic import generate


@pytest.fixture(scope="module")
def records():
    return generate(n_proteins=50, mutants_per_protein=4, min_length=20, max_length=60, seed=2)


def proteins(part):
    return {r.protein_id for r in part}


def test_no_protein_in_two_splits_and_nothing_lost(records):
    parts = split_records(records, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert sorted(r.id for p in parts.values() for r in p) == sorted(r.id for r in records)
    train, val, test = (proteins(parts[k]) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(parts["val"]) == 20 and len(parts["test"]) == 40  # 4 records per protein: exact here
    assert [r.id for r in parts["train"]] == sorted(r.id for r in parts["train"])  # input order kept


def test_deterministic_per_seed_and_different_across_seeds(records):
    first = split_records(records, val_fraction=0.1, test_fraction=0.1, seed=0)
    assert split_records(list(reversed(records)), val_fraction=0.1, test_fraction=0.1, seed=0)["val"] == list(
        reversed(first["val"])
    )
    assert split_records(records, val_fraction=0.1, test_fraction=0.1, seed=0) == first
    assert proteins(split_records(records, val_fraction=0.1, test_fraction=0.1, seed=1)["val"]) != proteins(
        first["val"]
    )


def test_without_accession_groups_by_wild_type_sequence(records):
    anonymous = [dataclasses.replace(r, protein_id=None) for r in records]
    parts = split_records(anonymous, val_fraction=0.2, test_fraction=0.0, seed=0)
    train_wt, val_wt = ({r.wild_type for r in parts[k]} for k in ("train", "val"))
    assert not (train_wt & val_wt) and val_wt and parts["test"] == []


def test_accession_and_sequence_join_one_group(records):
    # The same protein: once by accession, once only by its sequence (e.g. from a seed JSONL), and a
    # second accession for the same sequence: all one group.
    a, b, c = records[0], records[1], records[4]
    mixed = [
        a,
        dataclasses.replace(b, protein_id=None, id="x"),
        dataclasses.replace(b, protein_id="ALIAS", id="y"),
        dataclasses.replace(c, protein_id="ALIAS", id="z"),
    ]
    groups = protein_groups(mixed)
    assert sorted(map(sorted, groups)) == [[0, 1, 2, 3]]


def test_small_sets_still_get_a_val_protein_and_keep_a_train_one(records):
    few = [r for r in records if r.protein_id in {"syn-p0000", "syn-p0001"}]
    parts = split_records(few, val_fraction=0.01, test_fraction=0.01, seed=0)
    assert len(proteins(parts["train"])) == 1 and len(proteins(parts["test"])) == 1 and parts["val"] == []
    assert split_records(few[:1], val_fraction=0.5, test_fraction=0.0, seed=0)["train"] == few[:1]


@pytest.mark.parametrize(("val", "test"), [(0.6, 0.4), (-0.1, 0.0)])
def test_bad_fractions(records, val, test):
    with pytest.raises(ValueError, match="val_fraction"):
        split_records(records, val_fraction=val, test_fraction=test, seed=0)
