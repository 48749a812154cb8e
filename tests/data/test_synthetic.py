"""The synthetic set: labelled, deterministic, realistic lengths, a mix of mutation kinds, and texts that
depend on the mutation (the new residue is always named)."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from m2t.data.amino_acids import NAMES
from m2t.data.notation import Mutation, apply_mutations, parse_mutations
from m2t.data.records import SCHEMA, records_to_table
from m2t.data.synthetic import generate
from m2t.data.synthetic_text import describe

ARGS = {"n_proteins": 60, "mutants_per_protein": 6, "min_length": 30, "max_length": 300, "seed": 0}


@pytest.fixture(scope="module")
def records():
    return generate(**ARGS)


def test_labelled_synthetic_everywhere(records):
    assert len(records) == 360
    assert all(
        r.source == "synthetic"
        and r.id.startswith("syn-")
        and r.protein_id.startswith("syn-")
        and r.protein_name.startswith("synthetic protein")
        and "not a real protein" in r.function
        for r in records
    )
    assert len({r.id for r in records}) == 360
    assert [r.line for r in records] == list(range(1, 361))


def test_deterministic_per_seed(records):
    assert generate(**ARGS) == records
    assert generate(**{**ARGS, "seed": 1}) != records


def test_lengths_spread_inside_the_range(records):
    lengths = [len(r.wild_type) for r in records[::6]]
    assert min(lengths) >= 30 and max(lengths) <= 300
    assert all(r.wild_type.startswith("M") for r in records)
    lengths.sort()
    median = lengths[len(lengths) // 2]
    assert 60 <= median <= 150  # log-normal around the geometric middle (~95), not uniform (median 165)


def test_mutants_are_mostly_single_substitutions_with_some_multi_and_indels(records):
    kinds = Counter(
        "multi"
        if len(r.mutations) > 1
        else "del"
        if "del" in r.mutations[0]
        else "ins"
        if "ins" in r.mutations[0]
        else "single"
        for r in records
    )
    assert kinds["single"] > 0.5 * len(records)
    assert kinds["multi"] > 10 and kinds["del"] > 10 and kinds["ins"] > 10
    for r in records:
        assert apply_mutations(r.wild_type, r.mutations) == r.mutant != r.wild_type
    per_wt = Counter((r.wild_type, r.mutant) for r in records)
    assert max(per_wt.values()) == 1  # distinct mutants per wild type


def test_descriptions_name_the_residues_and_depend_on_the_mutation(records):
    for r in records:
        for m in parse_mutations(";".join(r.mutations)):
            if m.kind == "sub":
                assert f"{NAMES[m.first]} {m.start}" in r.description.lower()
                assert NAMES[m.alt] in r.description
            elif m.kind == "ins":
                assert all(NAMES[a] in r.description for a in m.alt)
                assert f"{len(m.alt)} residue" in r.description and "longer" in r.description
            else:
                assert "Deletion" in r.description and "shorter" in r.description
    by_text = {r.description for r in records}
    assert len(by_text) > 0.9 * len(records)


@pytest.mark.parametrize(
    ("wt", "new", "pos", "expected", "absent"),
    [
        ("K", "E", 20, ["glutamate", "reverses the charge from positive to negative"], ["terminus"]),
        ("A", "D", 20, ["introduces a negative charge"], ["positive"]),
        ("G", "W", 20, ["much larger", "Losing the glycine", "A polar residue becomes hydrophobic"], []),
        ("A", "P", 20, ["The new proline"], ["charge"]),
        ("C", "S", 20, ["Losing the cysteine"], []),
        ("L", "S", 20, ["A hydrophobic residue becomes polar", "much smaller"], []),
        ("I", "L", 20, ["The change is conservative."], ["larger", "smaller", "charge"]),
        ("I", "L", 2, ["near the N-terminus"], ["C-terminus"]),
        ("I", "L", 40, ["near the C-terminus"], ["N-terminus"]),
    ],
)
def test_substitution_text_follows_the_residues(wt, new, pos, expected, absent):
    seq = "M" * 39 + "A"
    seq = seq[: pos - 1] + wt + seq[pos:]
    sub = Mutation(kind="sub", start=pos, end=pos, first=wt, last=wt, alt=new)
    texts = {describe(seq, [sub], random.Random(s)) for s in range(10)}
    assert len(texts) > 1  # a few phrasings
    for text in texts:
        assert f"{NAMES[wt]} {pos}" in text.lower() and NAMES[new] in text
        assert all(e in text for e in expected), text
        assert not any(a in text for a in absent), text


def test_indel_texts():
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGD"
    dele = Mutation(kind="del", start=10, end=12, first="R", last="I")
    ins = Mutation(kind="ins", start=20, end=21, first="S", last="R", alt="PC")
    text = describe(seq, [dele, ins], random.Random(0))
    assert text.startswith("This variant carries 2 mutations.")
    assert "Deletion of residues 10 to 12 (arginine, glutamine and isoleucine)." in text
    assert "The protein becomes 3 residues shorter." in text
    assert "Insertion of proline and cysteine between serine 20 and arginine 21." in text
    assert "The new proline" in text and "The new cysteine" in text


def test_table_has_exactly_the_record_fields(records):
    table = records_to_table(records[:5])
    assert table.column_names == [f.name for f in dataclasses.fields(records[0])]
    assert table.schema == SCHEMA and str(table.schema.field("mutations").type) == "list<item: string>"
