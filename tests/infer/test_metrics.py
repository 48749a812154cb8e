"""MutaPLM's metric protocol: our score() equals direct nltk / rouge-score calls, plus known values."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.meteor_score import meteor_score
from rouge_score import rouge_scorer

from m2t.infer.metrics import METRICS, corpus_scores, reference, row_scores, score

PREDS = [
    "Loss of kinase activity; when associated with A-45.",
    "The mutation  reduces DNA binding by the  protein.",  # double spaces: empty tokens, as MutaPLM splits
    "Abolishes homodimerization.",
]
REFS = [
    "Loss of kinase activity. The mutation in the kinase domain abolishes catalytic activity.",
    "Strongly reduces DNA binding. The mutation weakens binding to DNA.",
    "No effect on homodimerization.",
]


def test_score_equals_direct_library_calls():
    got = score(PREDS, REFS)
    pred_tok, ref_tok = [p.split(" ") for p in PREDS], [r.split(" ") for r in REFS]
    assert ["", ""] == [t for t in pred_tok[1] if t == ""]  # single-space split keeps empty tokens
    want_b2 = corpus_bleu([[r] for r in ref_tok], pred_tok, weights=(0.5, 0.5))
    want_b4 = corpus_bleu([[r] for r in ref_tok], pred_tok, weights=(0.25,) * 4)
    want_meteor = sum(meteor_score([r], p) for r, p in zip(ref_tok, pred_tok, strict=True)) / 3
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rouge = [scorer.score(r, p) for p, r in zip(PREDS, REFS, strict=True)]
    assert got["n"] == 3
    assert got["bleu2"] == pytest.approx(want_b2, abs=1e-12)
    assert got["bleu4"] == pytest.approx(want_b4, abs=1e-12)
    assert got["meteor"] == pytest.approx(want_meteor, abs=1e-12)
    for key in ("rouge1", "rouge2", "rougeL"):
        assert got[key] == pytest.approx(sum(r[key].fmeasure for r in rouge) / 3, abs=1e-12)
    # the fixture is not degenerate: every metric is strictly between 0 and 1
    assert all(0.0 < got[m] < 1.0 for m in METRICS), got


def test_corpus_bleu_from_row_counts_equals_nltk_on_many_corpora():
    """Brevity penalties, hypotheses shorter than 4 tokens, no 4-gram match (nltk's float-min precision), no
    unigram match (0), an empty prediction: the counts of row_scores, summed, give nltk's corpus_bleu."""
    rng = random.Random(0)
    words = "the a mutation loss of activity binding reduces no effect on kinase".split()
    for trial in range(60):
        n = rng.randint(1, 6)
        preds = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(n)]
        refs = [" ".join(rng.choices(words, k=rng.randint(1, 14))) for _ in range(n)]
        if trial == 0:
            preds, refs = ["x y"], ["a b c"]  # no unigram match
        got = corpus_scores(row_scores(preds, refs))
        hyps, refss = [p.split(" ") for p in preds], [[r.split(" ")] for r in refs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nltk warns about zero n-gram counts
            assert got["bleu2"] == pytest.approx(corpus_bleu(refss, hyps, weights=(0.5, 0.5)), rel=1e-9, abs=1e-300)
            assert got["bleu4"] == pytest.approx(corpus_bleu(refss, hyps, weights=(0.25,) * 4), rel=1e-9, abs=1e-300)


def test_identical_texts_score_perfectly():
    text = ["the substitution abolishes ATP binding and kinase activity in vitro"]
    got = score(text, text)
    assert got["bleu2"] == pytest.approx(1.0) and got["bleu4"] == pytest.approx(1.0)
    assert got["meteor"] > 0.99
    assert got["rouge1"] == pytest.approx(1.0) and got["rougeL"] == pytest.approx(1.0)


def test_disjoint_texts_score_zero_and_known_bleu2():
    assert score(["alpha beta gamma"], ["delta epsilon zeta"])["rouge1"] == 0.0
    assert score(["alpha beta gamma"], ["delta epsilon zeta"])["meteor"] == 0.0
    # 4 of 5 unigrams and 2 of 4 bigrams match; same length, so no brevity penalty
    got = score(["a b c d x"], ["a b c d e"])
    assert got["bleu2"] == pytest.approx(math.sqrt(4 / 5 * 3 / 4), abs=1e-12)


def test_meteor_uses_wordnet_synonyms():
    # "quick" vs "fast" match only through WordNet synsets (exact and Porter-stem stages miss them)
    ref = ["the mutation causes a fast change"]
    with_syn = score(["the mutation causes a quick change"], ref)["meteor"]
    without = score(["the mutation causes a elephant change"], ref)["meteor"]
    assert with_syn > 0.99 and without < 0.85


def test_reference_joins_like_mutaplm():
    assert reference("Loss of activity.", "The mutation hurts.") == "Loss of activity. The mutation hurts."
    assert reference("Loss of activity.", "") == "Loss of activity."
    assert reference(None, " GPT text.") == "GPT text."


def test_empty_and_mismatched_inputs():
    assert score([], []) == {**dict.fromkeys(METRICS, 0.0), "n": 0}
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        score(["a", "b"], ["a"])
