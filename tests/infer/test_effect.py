"""The zero-shot effect score: the wild-type marginal from the encoder's own logits, 0 at the wild-type residue, sums
over substitutions, null with a reason for indels and odd residues, window coordinates for cropped pairs; and it
comes out of the describe path from the wild type's one cached pass."""

from __future__ import annotations

import pytest
import torch
from conftest import model_logprobs, tiny_config

from m2t.encoders.base import LOGPROB_ALPHABET
from m2t.infer.describer import Describer, Query
from m2t.infer.effect import Effect, effect_of, substitution_score
from m2t.model.prompt import PromptFacts

WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
COL = {aa: i for i, aa in enumerate(LOGPROB_ALPHABET)}


def direct(lp: torch.Tensor, wild_type: str, subs: list[tuple[int, str]], start: int = 0) -> float:
    return sum(float(lp[p - 1 - start, COL[aa]] - lp[p - 1 - start, COL[wild_type[p - 1]]]) for p, aa in subs)


def test_score_rules_on_a_logprob_table():
    wt, lp = "MKTAYIAKQR", torch.randn(10, 20).log_softmax(dim=-1)
    for row, aa in enumerate(wt):
        assert substitution_score(lp, row, aa, aa) == 0.0  # the wild-type residue itself: exactly 0
    k2r = float(lp[1, COL["R"]]) - float(lp[1, COL["K"]])
    assert effect_of(["K2R"], wt, lp) == Effect(k2r)
    two = effect_of(["K2R", "Q9A"], wt, lp)
    assert two.note is None and two.score == pytest.approx(k2r + effect_of(["Q9A"], wt, lp).score, abs=1e-12)
    assert effect_of(["p.Lys2Arg"], wt, lp) == Effect(k2r)
    # a window starting at wild-type position 6 (offset 5): position 9 is row 3
    assert effect_of(["Q9A"], wt[5:], lp[5:], offset=5) == effect_of(["Q9A"], wt, lp)
    with pytest.raises(ValueError, match=r"K2R is outside the encoder's window \(wild-type positions 6-10\)"):
        effect_of(["K2R"], wt[5:], lp[5:], offset=5)
    with pytest.raises(ValueError, match="mutation K9A expects K at position 9, the wild type has Q"):
        effect_of(["K9A"], wt, lp)


@pytest.mark.parametrize(
    ("mutations", "why"),
    [
        (["A4del"], "no effect score for A4del: the wild-type-marginal score covers substitutions only"),
        (["K2R", "K2_T3insG"], "no effect score for K2_T3insG: the wild-type-marginal"),
        (["K2_A4del", "Q9A", "I6_A7insW"], "no effect score for K2_A4del, I6_A7insW:"),
        (["K2X"], "no effect score for K2X: it involves a non-standard residue"),
        ([], "no mutation"),
    ],
)
def test_no_score_and_the_reason(mutations, why):
    effect = effect_of(mutations, "MKTAYIAKQR", torch.randn(10, 20).log_softmax(dim=-1))
    assert effect.score is None and effect.note.startswith(why)


@pytest.fixture(scope="module")
def describer(tiny_checkpoint, tmp_path_factory):
    return Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path_factory.mktemp("effect")))


def test_describe_scores_match_the_models_logits_from_one_wild_type_pass(describer):
    d = describer
    lp = model_logprobs(d.encoder, WT)
    queries = [
        (WT, WT[:1] + "R" + WT[2:]),  # K2R, bare pair: notation derived from the sequences
        Query(WT, WT[:1] + "R" + WT[2:8] + "A" + WT[9:], PromptFacts(mutations=("K2R", "Q9A"))),
        (WT, WT[:3] + WT[4:]),  # A4del
        Query(WT, WT[:1] + "W" + WT[2:3] + WT[4:], PromptFacts(mutations=("K2W", "A4del"))),
    ]
    before = d.encoded_wild_types
    out = d.describe_with_effects(queries)
    assert d.encoded_wild_types - before == 1  # one pass of the wild type scores every query
    assert [x.text for x in out] == d.describe(queries)
    assert out[0].effect.score == pytest.approx(direct(lp, WT, [(2, "R")]), abs=1e-5)
    assert out[1].effect.score == pytest.approx(direct(lp, WT, [(2, "R"), (9, "A")]), abs=1e-5)
    assert out[1].effect.score == pytest.approx(out[0].effect.score + direct(lp, WT, [(9, "A")]), abs=1e-5)
    assert out[2].effect == Effect(None, out[2].effect.note) and "A4del" in out[2].effect.note
    assert out[3].effect.score is None and "A4del" in out[3].effect.note and "K2W" not in out[3].effect.note


def test_a_cropped_pair_is_scored_in_its_window(describer):
    d = describer
    long_wt = (WT * 40)[:1100]  # longer than the encoder's 1,022 residues
    site = 1050
    alt = "W" if long_wt[site - 1] != "W" else "A"
    mutant = long_wt[: site - 1] + alt + long_wt[site:]
    window = d.window(long_wt, mutant)
    assert window.cropped and window.start > 0
    (out,) = d.describe_with_effects([(long_wt, mutant)])
    lp = model_logprobs(d.encoder, window.wild_type)  # the wild-type window's own logits
    assert out.effect.score == pytest.approx(direct(lp, long_wt, [(site, alt)], start=window.start), abs=1e-5)
