"""Paired bootstrap intervals of the difference between two variants scored on the same rows.

Rows are resampled with replacement (``resamples`` seeded draws of n row indices, the same draws for every
variant and metric); on each draw both variants are rescored from their per-row values
(:func:`m2t.infer.metrics.row_scores`: corpus BLEU from the summed n-gram counts, METEOR and ROUGE as means), and
the 2.5th and 97.5th percentiles of ``ours - theirs`` bound the 95% interval. A difference is significant when its
interval leaves out 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from m2t.infer.metrics import METRICS, corpus_bleu_of, corpus_scores

COUNTS = ("matches", "totals", "hyp_len", "ref_len")


def resample_indices(n: int, *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``(resamples, n)`` row indices drawn with replacement from a generator seeded with ``seed``."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def resampled_metrics(rows: Sequence[dict], indices: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric on each resample of ``rows`` (per-row values): ``{metric: (resamples,)}``."""
    out = {}
    counts = {k: np.array([r["bleu"][k] for r in rows]) for k in COUNTS}
    summed = {k: v[indices].sum(axis=1) for k, v in counts.items()}  # (R, 4) or (R,)
    for order in (2, 4):
        out[f"bleu{order}"] = corpus_bleu_of(**summed, order=order)
    for m in ("meteor", "rouge1", "rouge2", "rougeL"):
        out[m] = np.array([r[m] for r in rows])[indices].mean(axis=1)
    return out


def paired_intervals(ours: Sequence[dict], theirs: Sequence[dict], *, indices: np.ndarray) -> dict[str, dict]:
    """Per metric, ``ours - theirs`` on all rows (``diff``), its 95% bootstrap interval (``low``, ``high``) over the
    resamples ``indices`` and whether it leaves out 0 (``significant``); ``ours`` and ``theirs`` are per-row values
    of the same rows, in the same order."""
    if len(ours) != len(theirs):
        raise ValueError(f"paired rows differ in number: {len(ours)} and {len(theirs)}")
    point = {m: corpus_scores(ours)[m] - corpus_scores(theirs)[m] for m in METRICS}
    a, b = resampled_metrics(ours, indices), resampled_metrics(theirs, indices)
    out = {}
    for m in METRICS:
        low, high = np.percentile(a[m] - b[m], [2.5, 97.5])
        out[m] = {"diff": point[m], "low": float(low), "high": float(high), "significant": bool(low > 0 or high < 0)}
    return out
