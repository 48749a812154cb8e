"""Cropping a pair longer than the encoder takes to one window around its mutation(s)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m2t.data.amino_acids import STANDARD
from m2t.data.crop import CropError, Window, changed_span, encoder_window, window_records
from m2t.data.notation import apply_mutations, derive_mutations, parse_mutations
from m2t.data.records import Record


def protein(n: int, seed: int = 0) -> str:
    return "".join(random.Random(seed).choices(STANDARD, k=n))


def substitute(wt: str, pos: int) -> str:
    """``wt`` with a different residue at 1-based ``pos``."""
    return wt[: pos - 1] + ("A" if wt[pos - 1] != "A" else "G") + wt[pos:]


def test_a_pair_that_fits_is_unchanged():
    wt = protein(50)
    assert encoder_window(wt, substitute(wt, 7), max_residues=50) == Window(wt, substitute(wt, 7), 0, False)


def test_a_substitution_is_centred_and_clamped_at_the_ends():
    wt = protein(100)
    middle = encoder_window(wt, substitute(wt, 50), max_residues=20)
    assert (middle.start, len(middle.wild_type), middle.cropped) == (39, 20, True)  # site 50 = index 49: 10 before
    assert middle.wild_type == wt[39:59] and middle.mutant == substitute(wt, 50)[39:59]
    assert encoder_window(wt, substitute(wt, 3), max_residues=20).start == 0
    assert encoder_window(wt, substitute(wt, 99), max_residues=20).start == 80


def test_indels_keep_the_same_residues_of_both_within_the_window():
    wt = protein(100)
    deleted = apply_mutations(wt, [f"{wt[59]}60_{wt[61]}62del"])
    w = encoder_window(wt, deleted, max_residues=30)
    assert len(w.wild_type) == 30 and len(w.mutant) == 27 and w.start <= 59 and w.start + 30 >= 62
    inserted = apply_mutations(wt, [f"{wt[9]}10_{wt[10]}11insWWW"])
    w = encoder_window(wt, inserted, max_residues=30)
    assert (len(w.wild_type), len(w.mutant)) == (27, 30)  # the mutant may not exceed the window either
    # the mutant window is the wild-type window with the same mutation applied, in window coordinates
    local = [str(m) for m in parse_mutations(f"{wt[9]}{10 - w.start}_{wt[10]}{11 - w.start}insWWW")]
    assert apply_mutations(w.wild_type, local) == w.mutant


def test_changes_wider_than_a_window_are_refused_with_the_span():
    wt = protein(100)
    two = substitute(substitute(wt, 5), 95)
    assert changed_span(wt, two) == (4, 95)
    with pytest.raises(CropError, match=r"span wild-type positions 5-95 \(91 residues\), more than a window of the 40"):
        encoder_window(wt, two, max_residues=40)
    with pytest.raises(CropError, match=r"longer than the 40 the encoder takes \(encoder.long_sequences=reject"):
        encoder_window(wt, substitute(wt, 50), max_residues=40, policy="reject")


def test_window_records_rejects_with_the_record_and_the_encoder():
    wt = protein(100)
    common = {"protein_id": None, "protein_name": None, "function": None, "description": "x", "source": "s.csv"}
    ok = Record(id="ok", wild_type=wt, mutant=substitute(wt, 50), mutations=(), line=2, **common)
    far = Record(id="far", wild_type=wt, mutant=substitute(substitute(wt, 5), 95), mutations=(), line=3, **common)
    kept, rejects = window_records([ok, far], max_residues=40, policy="crop", encoder_id="esm2:tiny")
    assert [(r.id, w.cropped) for r, w in kept] == [("ok", True)]
    assert [(r.line, r.kind) for r in rejects] == [(3, "too_long_for_encoder")]
    assert rejects[0].reason.startswith("record far: the mutations span") and "(encoder esm2:tiny)" in rejects[0].reason


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(30, 200),
    window=st.integers(10, 60),
    seed=st.integers(0, 10**6),
    kind=st.sampled_from(["sub", "del", "ins"]),
    size=st.integers(1, 4),
    at=st.floats(0, 1),
)
def test_every_window_holds_every_change_and_maps_the_mutant_exactly(n, window, seed, kind, size, at):
    wt = protein(n, seed)
    pos = 1 + int(at * (n - size - 2))
    token = {
        "sub": f"{wt[pos - 1]}{pos}{'A' if wt[pos - 1] != 'A' else 'G'}",
        "del": f"{wt[pos - 1]}{pos}_{wt[pos + size - 2]}{pos + size - 1}del" if size > 1 else f"{wt[pos - 1]}{pos}del",
        "ins": f"{wt[pos - 1]}{pos}_{wt[pos]}{pos + 1}ins{'W' * size}",
    }[kind]
    mut = apply_mutations(wt, [token])
    try:
        w = encoder_window(wt, mut, max_residues=window)
    except CropError:
        a, b = changed_span(wt, mut)
        assert b - a > window - max(len(mut) - len(wt), 0)  # refused only when no window can hold the change
        return
    assert len(w.wild_type) <= window and len(w.mutant) <= window
    assert w.wild_type == wt[w.start : w.start + len(w.wild_type)]
    # the cropped pair differs exactly as the full pair does, shifted into window coordinates
    full, local = derive_mutations(wt, mut), derive_mutations(w.wild_type, w.mutant)
    assert len(full) == len(local)
    assert apply_mutations(w.wild_type, local) == w.mutant
