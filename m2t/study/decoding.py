"""Decoding chosen on the val split only: m2t describes val with each candidate (``study.decoding``), and the one
with the highest ROUGE-L + METEOR among those whose answers have the references' length (:data:`LENGTH_BAND`: the
median words of m2t's val answers over the references' median) decodes every variant on the test files; when no
candidate is in the band, the highest of all."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from m2t.config import GenerationConfig
from m2t.data.records import Record
from m2t.infer.describer import Describer
from m2t.infer.evaluate import predict
from m2t.infer.metrics import corpus_scores
from m2t.study.predictions import scored_predictions, weights_digest, words

# Answers of the right length: m2t's median val answer within 0.7-1.3x the references' median words. Without it the
# score alone chose answers of 16 words against 24 (2026-12-07 run, docs/study.md#result).
LENGTH_BAND = (0.7, 1.3)


def pick(tried: Sequence[dict], reference_words: float) -> int:
    """The index of the highest ROUGE-L + METEOR among the candidates in :data:`LENGTH_BAND`, or among all of them
    when none is; ``tried``: each candidate's ``metrics`` and ``median_words``."""
    low, high = LENGTH_BAND
    in_band = [i for i, t in enumerate(tried) if low <= t["median_words"] / reference_words <= high]
    return max(
        in_band or range(len(tried)), key=lambda i: tried[i]["metrics"]["rougeL"] + tried[i]["metrics"]["meteor"]
    )


def choose_decoding(
    describer: Describer, *, val: Sequence[Record], candidates: Sequence[dict], base: GenerationConfig, folder: Path
) -> tuple[GenerationConfig, dict]:
    """The chosen decoding, and what ``results.json`` records of the choice: each candidate's overrides, val
    metrics, median answer words and seconds, the references' median words, the length band, and the index chosen."""
    tried, made_any, started = [], False, time.time()
    for i, candidate in enumerate(candidates):
        generation = base.model_copy(update=candidate)
        describer.generation = generation
        rows, made = scored_predictions(
            folder / f"candidate_{i}.jsonl",
            records=val,
            key={"checkpoint": weights_digest(describer.checkpoint), "decoding": generation.model_dump()},
            predict=lambda i=i: predict(describer, list(val), desc=f"val, decoding candidate {i}"),
        )
        made_any |= made
        tried.append(
            {
                "overrides": candidate,
                "metrics": corpus_scores([r["scores"] for r in rows]),
                "median_words": statistics.median(words(r["prediction"]) for r in rows),
            }
        )
    reference_words = statistics.median(words(r.description) for r in val)
    best = pick(tried, reference_words)
    chosen = base.model_copy(update=candidates[best])
    describer.generation = chosen
    return chosen, {
        "candidates": tried,
        "chosen": best,
        "generation": chosen.model_dump(),
        "reference_median_words": reference_words,
        "length_band": list(LENGTH_BAND),
        "length_ratio": tried[best]["median_words"] / reference_words,  # of m2t's val answers, chosen decoding
        "seconds": round(time.time() - started, 1),
        "made": made_any,
    }
