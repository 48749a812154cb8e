"""Mutation notation: every accepted form, malformed forms, applying, deriving, and the apply/derive round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m2t.data.amino_acids import STANDARD, THREE_LETTER
from m2t.data.notation import (
    Mutation,
    NotationError,
    apply_mutations,
    derive_mutations,
    parse_mutations,
)

PARSED = [
    ("R175H", ["R175H"]),
    ("r175h", ["R175H"]),
    ("R175H;G245S", ["R175H", "G245S"]),
    ("R175H/G245S", ["R175H", "G245S"]),
    ("R175H,G245S", ["R175H", "G245S"]),
    ("R175H, G245S", ["R175H", "G245S"]),
    ("R175H G245S", ["R175H", "G245S"]),
    ("p.Arg175His", ["R175H"]),
    ("p.(Arg175His)", ["R175H"]),
    ("p.[Arg175His;Gly245Ser]", ["R175H", "G245S"]),
    ("p.[(Arg175His;Gly245Ser)]", ["R175H", "G245S"]),
    ("p.Arg175His;p.Gly245Ser", ["R175H", "G245S"]),
    ("K20del", ["K20del"]),
    ("p.Lys20del", ["K20del"]),
    ("K20_A22del", ["K20_A22del"]),
    ("p.Lys20_Ala22del", ["K20_A22del"]),
    ("G12_G13insA", ["G12_G13insA"]),
    ("G12_G13insAWK", ["G12_G13insAWK"]),
    ("p.Gly12_Gly13insAla", ["G12_G13insA"]),
    ("p.Gly12_Gly13insAlaTrp", ["G12_G13insAW"]),
    ("p.Sec5Cys", ["U5C"]),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_every_form(text, expected):
    assert [str(m) for m in parse_mutations(text)] == expected


def test_parsed_fields():
    (ins,) = parse_mutations("p.Gly12_Gly13insAlaTrp")
    assert ins == Mutation(kind="ins", start=12, end=13, first="G", last="G", alt="AW")
    (dele,) = parse_mutations("K20_A22del")
    assert (dele.kind, dele.start, dele.end, dele.first, dele.last, dele.alt) == ("del", 20, 22, "K", "A", "")


MALFORMED = [
    ("", "no mutation given"),
    ("   ", "no mutation given"),
    ("R2?", "cannot read mutation 'R2?'"),
    ("R175", "cannot read mutation 'R175'"),
    ("RR175H", "cannot read mutation 'RR175H'"),
    ("175H", "cannot read mutation '175H'"),
    ("R175H;;G24", "cannot read mutation 'G24' in 'R175H;;G24'"),
    ("p.Arg175", "cannot read mutation 'p.Arg175'"),
    ("p.Arg175Xyz", "'Xyz' is not an amino-acid code"),
    ("p.Arg175Ter", "'Ter' is not an amino-acid code"),
    ("R175*", "cannot read mutation 'R175*'"),
    ("J175H", "'J' is not an amino-acid code"),
    ("R175R", "does not change the residue"),
    ("R0H", "positions are 1-based, got 0"),
    ("K22_A20del", "the range must go up, got 22 to 20"),
    ("G12_G14insA", "flanking positions must be adjacent"),
    ("G12insA", "cannot read mutation 'G12insA'"),
    ("G12_Gly13insA", "cannot read mutation"),
    ("p.Arg175delinsHis", "cannot read mutation"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_notation_is_refused_with_reason(text, message):
    with pytest.raises(NotationError, match=message.replace("?", r"\?").replace("*", r"\*").replace("(", r"\(")):
        parse_mutations(text)


WT = "MKTAYIAKQRQISFVKSHFSRQ"  # M1 K2 T3 A4 Y5 I6 A7 K8 Q9 R10 ...


@pytest.mark.parametrize(
    ("mutations", "mutant"),
    [
        (["K2R"], "MRTAYIAKQRQISFVKSHFSRQ"),
        (["K2R", "R10W"], "MRTAYIAKQWQISFVKSHFSRQ"),
        (["A4del"], "MKTYIAKQRQISFVKSHFSRQ"),
        (["A4_A7del"], "MKTKQRQISFVKSHFSRQ"),
        (["K2_T3insGG"], "MKGGTAYIAKQRQISFVKSHFSRQ"),
        (["K2R", "K2_T3insG", "T3del"], "MRGAYIAKQRQISFVKSHFSRQ"),  # wild-type coordinates, applied at once
        (["p.Lys2Arg"], "MRTAYIAKQRQISFVKSHFSRQ"),
    ],
)
def test_apply(mutations, mutant):
    assert apply_mutations(WT, mutations) == mutant
    assert apply_mutations(WT, [m for text in mutations for m in parse_mutations(text)]) == mutant


@pytest.mark.parametrize(
    ("mutations", "message"),
    [
        (["R2H"], "mutation R2H expects R at position 2, found K"),
        (["A4_K7del"], "mutation A4_K7del expects K at position 7, found A"),
        (["K2_A3insG"], "mutation K2_A3insG expects A at position 3, found T"),
        (["Q23R"], "mutation Q23R refers to position 23, past the end of the 22-residue wild type"),
        (["K2R", "K2del"], "mutations K2R and K2del both change position 2"),
        (["A4_A7del", "Y5F"], "mutations A4_A7del and Y5F both change position 5"),
        (["K2_T3insG", "K2_T3insW"], "both insert after position 2"),
    ],
)
def test_apply_refuses_what_does_not_fit_the_wild_type(mutations, message):
    with pytest.raises(NotationError, match=message):
        apply_mutations(WT, mutations)


@pytest.mark.parametrize(
    ("wt", "mutant", "expected"),
    [
        ("MKTAY", "MKTAY", []),
        ("MKTAY", "MRTAY", ["K2R"]),
        ("MKTAY", "MRTAF", ["K2R", "Y5F"]),
        ("MKTAY", "MKAY", ["T3del"]),
        ("MKTAY", "MAY", ["K2_T3del"]),
        ("MKAAAY", "MKAAY", ["A5del"]),  # 3' rule: the last A of the run
        ("MKTAY", "MKTGGAY", ["T3_A4insGG"]),
        ("MKAAY", "MKAAAY", ["A4_Y5insA"]),  # 3' rule
        ("KA", "AKA", ["K1A", "K1_A2insK"]),  # an insertion before residue 1 is written between 1 and 2
        ("MK", "MKA", ["M1_K2insK", "K2A"]),  # and one after the last residue between the last two
        ("MKTAYIAKQR", "MKTWYIKQR", ["A4W", "A7del"]),
    ],
)
def test_derive(wt, mutant, expected):
    assert derive_mutations(wt, mutant) == expected
    assert apply_mutations(wt, expected) == mutant


def test_derive_cannot_write_an_insertion_next_to_a_single_residue():
    with pytest.raises(NotationError, match="cannot write the change"):
        derive_mutations("M", "MA")


@st.composite
def wild_type_and_mutations(draw):
    wt = draw(st.text(alphabet=STANDARD, min_size=2, max_size=60))
    n, used, gaps, mutations = len(wt), set(), set(), []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["sub", "del", "ins"]))
        if kind == "ins":
            k = draw(st.integers(1, n - 1))
            if k not in gaps:
                gaps.add(k)
                alt = draw(st.text(alphabet=STANDARD, min_size=1, max_size=3))
                mutations.append(Mutation(kind="ins", start=k, end=k + 1, first=wt[k - 1], last=wt[k], alt=alt))
            continue
        start = draw(st.integers(1, n))
        end = start if kind == "sub" else draw(st.integers(start, min(n, start + 2)))
        if used & set(range(start, end + 1)) or (kind == "del" and len(used) + end - start + 1 >= n):
            continue
        used |= set(range(start, end + 1))
        alt = draw(st.sampled_from([a for a in STANDARD if a != wt[start - 1]])) if kind == "sub" else ""
        mutations.append(Mutation(kind=kind, start=start, end=end, first=wt[start - 1], last=wt[end - 1], alt=alt))
    if not mutations:  # every draw collided: one substitution at a free position
        pos = min(set(range(1, n + 1)) - used)
        alt = "A" if wt[pos - 1] != "A" else "C"
        mutations.append(Mutation(kind="sub", start=pos, end=pos, first=wt[pos - 1], last=wt[pos - 1], alt=alt))
    return wt, mutations


@given(wild_type_and_mutations())
@settings(max_examples=300, deadline=None)
def test_derived_mutations_rebuild_the_mutant(case):
    wt, mutations = case
    mutant = apply_mutations(wt, mutations)
    derived = derive_mutations(wt, mutant)
    assert apply_mutations(wt, derived) == mutant
    assert (derived == []) == (mutant == wt)
    if all(m.kind == "sub" for m in mutations):  # substitutions come back exactly, sorted by position
        assert derived == [str(m) for m in sorted(mutations, key=lambda m: m.start)]


def _hgvs(m: Mutation) -> str:
    def three(residues):
        return "".join(THREE_LETTER[r] for r in residues)

    if m.kind == "sub":
        return f"p.{three(m.first)}{m.start}{three(m.alt)}"
    if m.kind == "del":
        return (
            f"p.{three(m.first)}{m.start}del"
            if m.start == m.end
            else f"p.{three(m.first)}{m.start}_{three(m.last)}{m.end}del"
        )
    return f"p.{three(m.first)}{m.start}_{three(m.last)}{m.end}ins{three(m.alt)}"


@given(wild_type_and_mutations())
@settings(max_examples=200, deadline=None)
def test_compact_and_hgvs_forms_parse_back(case):
    _, mutations = case
    assert parse_mutations(";".join(map(str, mutations))) == mutations
    assert parse_mutations("p.[" + ";".join(_hgvs(m)[2:] for m in mutations) + "]") == mutations


@given(st.text(alphabet="ACGK", min_size=2, max_size=30), st.text(alphabet="ACGK", min_size=1, max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_two_sequences_are_derivable(wt, mutant):
    assert apply_mutations(wt, derive_mutations(wt, mutant)) == mutant
