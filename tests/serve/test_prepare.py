"""Request items -> jobs: normalised notation, the mutant sequence, defaults, and every bad field named at once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from m2t.serve.prepare import Decoding, Limits, prepare
from m2t.serve.schemas import DescribeRequest, FieldError

WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
LIMITS = Limits(max_length=80, extended_alphabet=False, max_new_tokens_limit=16, max_residues=40, long_sequences="crop")
DEFAULTS = Decoding(max_new_tokens=8, temperature=0.0, top_p=1.0)


def job(**body):
    return prepare(DescribeRequest(**body), loc=("body", "items", 2), limits=LIMITS, defaults=DEFAULTS)


def errors(**body) -> list[tuple[list, str]]:
    with pytest.raises(FieldError) as info:
        job(**body)
    return [(e["loc"], e["msg"]) for e in info.value.errors]


@pytest.mark.parametrize(
    ("mutations", "expected", "mutant"),
    [
        ("p.Lys2Arg", ("K2R",), "MR" + WT[2:]),
        ("K2R; A4del", ("K2R", "A4del"), "MRT" + WT[4:]),
        (["K2R", "A4del"], ("K2R", "A4del"), "MRT" + WT[4:]),
        ("p.Lys2_Thr3insGly", ("K2_T3insG",), "MKGT" + WT[3:]),
    ],
)
def test_notation_is_normalised_and_applied(mutations, expected, mutant):
    j = job(wild_type=WT.lower(), mutations=mutations, id="v1")
    assert (j.wild_type, j.mutant, j.mutations, j.id) == (WT, mutant, expected, "v1")
    assert j.decoding == DEFAULTS


def test_mutant_sequence_gives_the_derived_notation_and_request_decoding_wins():
    j = job(wild_type=WT, mutant=WT[:9] + "W" + WT[10:], max_new_tokens=16, temperature=0.7, top_p=0.9)
    assert j.mutations == ("R10W",)
    assert j.decoding == Decoding(max_new_tokens=16, temperature=0.7, top_p=0.9)


def test_every_bad_field_is_reported_with_its_location():
    found = errors(wild_type=WT, mutant=WT + "J", max_new_tokens=17)
    assert [loc for loc, _ in found] == [["body", "items", 2, "mutant"], ["body", "items", 2, "max_new_tokens"]]
    assert "'J' (first at position 34)" in found[0][1]
    assert "17 is over this server's limit of 16" in found[1][1]


def test_list_items_are_reported_at_their_index():
    ((loc, msg),) = errors(wild_type=WT, mutations=["K2R", "K2?"])
    assert loc == ["body", "items", 2, "mutations", 1] and "K2?" in msg


def test_notation_that_does_not_fit_the_wild_type():
    assert errors(wild_type=WT, mutations="R2H") == [
        (["body", "items", 2, "mutations"], "mutation R2H expects R at position 2, found K")
    ]


def test_an_insertion_that_makes_the_mutant_too_long_is_blamed_on_the_notation():
    ((loc, msg),) = errors(wild_type=WT * 2, mutations="K2_T3ins" + "G" * 15)
    assert loc == ["body", "items", 2, "mutations"] and "81 residues long, over the limit of 80" in msg


def test_identical_mutant_and_empty_notation_are_refused():
    assert [loc[-1] for loc, _ in errors(wild_type=WT, mutant=WT)] == ["mutant"]
    assert [loc[-1] for loc, _ in errors(wild_type=WT, mutations=" ")] == ["mutations"]
    with pytest.raises(ValidationError, match="at least 1 item"):  # an empty list: the schema says minItems 1
        DescribeRequest(wild_type=WT, mutations=[])


def test_a_long_pair_is_cropped_around_the_mutation_and_a_too_wide_change_is_named():
    long = (WT * 2)[:39] + "W"  # 40 residues fit the test window of 40 exactly
    assert job(wild_type=long, mutations="K2R").window.cropped is False
    longer = WT * 2  # 66 residues: cropped to 40 around position 30, positions stay full-length
    j = job(wild_type=longer, mutations=f"{longer[29]}30W", protein_name="Toy", function="None known.")
    assert (j.window.cropped, len(j.window.wild_type), j.mutations) == (True, 40, (f"{longer[29]}30W",))
    assert j.window.start < 30 <= j.window.start + 40 and (j.protein_name, j.function) == ("Toy", "None known.")
    assert errors(wild_type=longer, mutations=f"K2R; {longer[64]}65A") == [
        (
            ["body", "items", 2, "mutations"],
            "the mutations span wild-type positions 2-65 (64 residues), more than a "
            "window of the 40 residues the encoder takes can hold",
        ),
    ]
