"""Text metrics exactly as MutaPLM's evaluator computes them, so our numbers compare with its paper.

- Text is split on single spaces (``str.split(" ")``), as MutaPLM does.
- BLEU-2 / BLEU-4: nltk ``corpus_bleu`` with weights (0.5, 0.5) and (0.25,) * 4, one reference per sample
  (computed here from each row's n-gram counts, as nltk sums them: :func:`corpus_scores`; a test checks both agree).
- METEOR: nltk ``meteor_score([ref_tokens], pred_tokens)`` per sample, averaged (needs WordNet:
  ``python -m m2t.infer.wordnet``, which :func:`score` also runs, idempotently).
- ROUGE-1 / ROUGE-2 / ROUGE-L: F-measures of ``RougeScorer(['rouge1', 'rouge2', 'rougeL'])``, averaged.

:func:`row_scores` gives each row's values (METEOR and ROUGE, and the n-gram counts BLEU sums over the corpus) and
:func:`corpus_scores` the metrics of any set of rows, so a resample of rows (the study's bootstrap) is rescored
without rerunning the metrics.

The reference of a MutaDescribe row is ``(uniprot_description + " " + GPT_description).strip()``
(:func:`reference`; the data layer's reader stores it as ``Record.description``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import nltk
import numpy as np
from nltk.translate.bleu_score import closest_ref_length, modified_precision
from nltk.translate.meteor_score import meteor_score
from rouge_score import rouge_scorer

from m2t.infer.wordnet import ensure_wordnet, nltk_data_dir

METRICS = ("bleu2", "bleu4", "meteor", "rouge1", "rouge2", "rougeL")


def reference(uniprot_description: str | None, gpt_description: str | None) -> str:
    """MutaPLM's reference text of one MutaDescribe row."""
    return ((uniprot_description or "") + " " + (gpt_description or "")).strip()


def _use_project_wordnet() -> None:
    ensure_wordnet()
    path = str(nltk_data_dir())
    if path not in nltk.data.path:
        nltk.data.path.insert(0, path)


def row_scores(predictions: Sequence[str], references: Sequence[str]) -> list[dict]:
    """Per paired text: ``meteor``, ``rouge1``, ``rouge2``, ``rougeL`` (fractions in [0, 1]), and ``bleu``: the clipped
    n-gram ``matches`` and hypothesis n-gram ``totals`` for n = 1..4 (nltk's ``modified_precision``), ``hyp_len`` and
    ``ref_len``: what corpus BLEU sums."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    _use_project_wordnet()
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rows = []
    for pred, ref in zip(predictions, references, strict=True):
        hyp, refs = pred.split(" "), [ref.split(" ")]
        precision = [modified_precision(refs, hyp, n) for n in range(1, 5)]
        rouge = scorer.score(pred, ref)  # MutaPLM's argument order; F-measures are symmetric in it
        rows.append(
            {
                "meteor": float(meteor_score(refs, hyp)),
                **{key: float(rouge[key].fmeasure) for key in ("rouge1", "rouge2", "rougeL")},
                "bleu": {
                    "matches": [p.numerator for p in precision],
                    "totals": [p.denominator for p in precision],
                    "hyp_len": len(hyp),
                    "ref_len": closest_ref_length(refs, len(hyp)),
                },
            }
        )
    return rows


def corpus_bleu_of(matches: np.ndarray, totals: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray, order: int):
    """nltk's ``corpus_bleu`` (uniform weights up to ``order``, no smoothing: a zero count is ``sys.float_info.min``,
    no unigram match is 0) from corpus sums; ``matches``/``totals`` ``(..., 4)``, lengths ``(...)``: any leading shape
    (one corpus, or one per bootstrap resample)."""
    m, t = matches[..., :order].astype(float), totals[..., :order].astype(float)
    p = np.where(m > 0, m / t, sys.float_info.min)
    with np.errstate(divide="ignore"):
        bp = np.where(hyp_len > ref_len, 1.0, np.exp(1 - ref_len / np.maximum(hyp_len, 1)))
    bp = np.where(hyp_len == 0, 0.0, bp)
    return np.where(m[..., 0] > 0, bp * np.exp(np.log(p).sum(axis=-1) / order), 0.0)


def corpus_scores(rows: Sequence[dict]) -> dict[str, float | int]:
    """The six metrics of a set of :func:`row_scores` rows (BLEU over the corpus, the others averaged) and ``n``."""
    n = len(rows)
    if n == 0:
        return {**dict.fromkeys(METRICS, 0.0), "n": 0}
    counts = {
        k: np.array([r["bleu"][k] for r in rows]).sum(axis=0) for k in ("matches", "totals", "hyp_len", "ref_len")
    }
    bleu = {f"bleu{o}": float(corpus_bleu_of(**counts, order=o)) for o in (2, 4)}
    means = {m: float(np.mean([r[m] for r in rows])) for m in ("meteor", "rouge1", "rouge2", "rougeL")}
    return {**bleu, **means, "n": n}


def score(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float | int]:
    """``bleu2, bleu4, meteor, rouge1, rouge2, rougeL`` (fractions in [0, 1]) and ``n`` over paired texts."""
    return corpus_scores(row_scores(predictions, references))
