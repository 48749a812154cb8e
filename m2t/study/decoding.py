"""Decoding chosen on the val split only: m2t describes val with each candidate (``study.decoding``), and the one
with the highest ROUGE-L + METEOR decodes every variant on the test files. Also how long the answers are there:
the median words of m2t's val answers against the references' median."""

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


def choose_decoding(
    describer: Describer, *, val: Sequence[Record], candidates: Sequence[dict], base: GenerationConfig, folder: Path
) -> tuple[GenerationConfig, dict]:
    """The chosen decoding, and what ``results.json`` records of the choice: each candidate's overrides, val
    metrics, median answer words and seconds, the references' median words, and the index chosen."""
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
    best = max(range(len(tried)), key=lambda i: tried[i]["metrics"]["rougeL"] + tried[i]["metrics"]["meteor"])
    reference_words = statistics.median(words(r.description) for r in val)
    chosen = base.model_copy(update=candidates[best])
    describer.generation = chosen
    return chosen, {
        "candidates": tried,
        "chosen": best,
        "generation": chosen.model_dump(),
        "reference_median_words": reference_words,
        "length_ratio": tried[best]["median_words"] / reference_words,  # of m2t's val answers, chosen decoding
        "seconds": round(time.time() - started, 1),
        "made": made_any,
    }
