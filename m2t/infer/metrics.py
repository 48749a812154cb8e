"""Text metrics exactly as MutaPLM's evaluator computes them, so our numbers compare with its paper.

- Text is split on single spaces (``str.split(" ")``), as MutaPLM does.
- BLEU-2 / BLEU-4: nltk ``corpus_bleu`` with weights (0.5, 0.5) and (0.25,) * 4, one reference per sample.
- METEOR: nltk ``meteor_score([ref_tokens], pred_tokens)`` per sample, averaged (needs WordNet:
  ``python -m m2t.infer.wordnet``, which :func:`score` also runs, idempotently).
- ROUGE-1 / ROUGE-2 / ROUGE-L: F-measures of ``RougeScorer(['rouge1', 'rouge2', 'rougeL'])``, averaged.

The reference of a MutaDescribe row is ``(uniprot_description + " " + GPT_description).strip()``
(:func:`reference`; the data layer's reader stores it as ``Record.description``).
"""

from __future__ import annotations

from collections.abc import Sequence

import nltk
from nltk.translate.bleu_score import corpus_bleu
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


def score(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float | int]:
    """``bleu2, bleu4, meteor, rouge1, rouge2, rougeL`` (fractions in [0, 1]) and ``n`` over paired texts."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    n = len(predictions)
    if n == 0:
        return {**dict.fromkeys(METRICS, 0.0), "n": 0}
    _use_project_wordnet()
    pred_tokens = [p.split(" ") for p in predictions]
    ref_tokens = [r.split(" ") for r in references]
    refs = [[r] for r in ref_tokens]
    bleu2 = corpus_bleu(refs, pred_tokens, weights=(0.5, 0.5))
    bleu4 = corpus_bleu(refs, pred_tokens, weights=(0.25, 0.25, 0.25, 0.25))
    meteor = sum(meteor_score([r], p) for r, p in zip(ref_tokens, pred_tokens, strict=True)) / n
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rouge = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for pred, ref in zip(predictions, references, strict=True):
        result = scorer.score(pred, ref)  # MutaPLM's argument order; F-measures are symmetric in it
        for key in rouge:
            rouge[key] += result[key].fmeasure / n
    return {"bleu2": float(bleu2), "bleu4": float(bleu4), "meteor": float(meteor), **rouge, "n": n}
