"""Run the study end to end: leak-free sets, the trained variants, every variant on every test file, the results.

<out>/m2t/, <out>/text_only/        each variant's data copy, outputs/<stage>/ and Ray runs (as the jobs write them)
<out>/embeddings/                   the embedding store the variants share
<out>/val/candidate_<i>.jsonl       m2t on val with each decoding candidate (study.decoding), per-row scores
<out>/predictions/<variant>/<test>.jsonl   every variant on every test row, with per-row scores
<out>/val_loss.png                  the val-loss curve of every training run
<out>/timings.json                  seconds per phase, from the invocation that did it
<out>/results.json, <out>/report.md

A rerun resumes: finished training runs are not redone and predictions whose checkpoint, decoding and rows are
unchanged are read back.
"""

from __future__ import annotations

import json
import logging
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from m2t.atomic import atomic_write_text
from m2t.config import Config, GenerationConfig
from m2t.data.neighbours import NeighbourIndex
from m2t.data.records import Record
from m2t.infer.describer import Describer
from m2t.infer.evaluate import predict
from m2t.infer.metrics import corpus_scores
from m2t.study.bootstrap import paired_intervals, resample_indices
from m2t.study.curves import plot_val_loss
from m2t.study.decoding import choose_decoding
from m2t.study.predictions import scored_predictions, weights_digest, words
from m2t.study.report import BASELINES, render_report
from m2t.study.splits import Limits, capped, data_summary, study_sets
from m2t.study.timings import Timings
from m2t.study.variants import protein_zeroed, train_m2t, train_text_only, variant_config, write_splits, zero_shot
from m2t.train.metrics import read_metrics

log = logging.getLogger(__name__)
VAL_LOSS_PNG = "val_loss.png"
VARIANTS = {
    "m2t": "m2t, both stages, prompt with the mutation text",
    "m2t_protein_zeroed": "the same checkpoint, protein vectors zeroed at test time",
    "text_only": "text-only LoRA, trained the same way without <delta_P>",
    "zero_shot": "the instruct LLM zero-shot, same prompt, no training",
    "retrieval": "reference text of the nearest training protein's closest mutation",
}


def stage_cost(cfg: Config, summary: dict) -> dict:
    """Steps, epochs, median seconds per optimizer step, wall time (of the invocation that trained it), best val loss
    and why it stopped, of one training stage, from its summary and metrics.jsonl."""
    rows = read_metrics(summary["metrics"])
    stage = getattr(cfg.train, summary["stage"])
    per_step = stage.micro_batch_size * stage.grad_accum * cfg.train.num_workers
    seconds = [per_step / r["samples_per_s"] for r in rows if r.get("samples_per_s")]
    return {
        "steps": summary["step"],
        "epochs": round(summary["step"] / summary["schedule"]["steps_per_epoch"], 2),
        "samples_per_step": per_step,
        "median_s_per_step": round(statistics.median(seconds), 2) if seconds else None,
        "wall_s": summary["seconds"],
        "val_loss": summary["val_loss"],
        "best_step": summary["checkpoint_step"],
        "stop_reason": summary["stop_reason"],
    }


def run_study(
    cfg: Config,
    *,
    pool: Sequence[Path],
    tests: Sequence[Path],
    out: Path,
    command: str,
    limits: Limits | None = None,
) -> dict:
    """The whole study; writes and returns ``results.json``'s content (see the module docstring for the files)."""
    started, timings = time.time(), Timings(out / "timings.json")
    sets = study_sets(
        pool=pool,
        tests=tests,
        val_fraction=cfg.data.val_fraction,
        seed=cfg.data.split_seed,
        max_length=cfg.data.max_length,
    )
    in_file = {name: len(records) for name, records in sets.tests.items()}
    sets = capped(sets, limits or Limits(), sample=cfg.study.test_rows, seed=cfg.data.split_seed)
    data = data_summary(sets, in_file=in_file)
    log.warning("study data: %s", json.dumps(data))
    shared = {"embed": cfg.embed.model_copy(update={"store": str(out / "embeddings")})}
    m2t_cfg = variant_config(cfg.model_copy(update=shared), out / "m2t")
    text_cfg = variant_config(cfg.model_copy(update=shared), out / "text_only", use_protein=False)
    write_splits(m2t_cfg, train=sets.train, val=sets.val)
    write_splits(text_cfg, train=sets.train, val=sets.val)

    m2t_ckpt, m2t_stages = train_m2t(m2t_cfg)
    text_ckpt, text_stages = train_text_only(text_cfg)
    zero_ckpt = zero_shot(text_cfg)
    stages = {"m2t_pretrain": m2t_stages[0], "m2t_finetune": m2t_stages[1], "text_only_finetune": text_stages[0]}
    for name, summary in stages.items():
        timings.record(f"train {name}", summary["seconds"], did_work=True)  # run_stage keeps the first measurement
    plot_val_loss(stages, out / VAL_LOSS_PNG)

    m2t = Describer(checkpoint=m2t_ckpt, cfg=m2t_cfg, store=out / "embeddings")
    generation, decoding = choose_decoding(
        m2t, val=sets.val, candidates=cfg.study.decoding, base=cfg.generation, folder=out / "val"
    )
    timings.record("choose decoding on val (m2t)", decoding["seconds"], did_work=decoding["made"])
    retrieval = NeighbourIndex.of_records(sets.train)
    predictors: dict[str, tuple[dict, Callable[[list[Record], str], list[str]]]] = {
        "m2t": ({"model": weights_digest(m2t_ckpt)}, lambda records, desc: predict(m2t, records, desc=desc)),
        "m2t_protein_zeroed": (
            {"model": weights_digest(m2t_ckpt), "protein": "zeroed"},
            lambda records, desc: _zeroed(m2t, records, desc),
        ),
        "text_only": ({"model": weights_digest(text_ckpt)}, _describer(text_ckpt, text_cfg, generation)),
        "zero_shot": ({"model": weights_digest(zero_ckpt)}, _describer(zero_ckpt, text_cfg, generation)),
        "retrieval": (
            {"model": "retrieval", "train": [r.id for r in sets.train]},
            lambda records, desc: [
                retrieval.describe(wild_type=r.wild_type, mutations=r.mutations, protein_id=r.protein_id)
                for r in records
            ],
        ),
    }
    rows: dict[str, dict[str, list[dict]]] = {name: {} for name in VARIANTS}
    for name, (key, predictor) in predictors.items():
        began, made = time.time(), False
        for test, records in sets.tests.items():
            rows[name][test], fresh = scored_predictions(
                out / "predictions" / name / f"{test}.jsonl",
                records=records,
                key={**key, "decoding": generation.model_dump()},
                predict=lambda records=records, desc=f"{name} on {test}", predictor=predictor: predictor(records, desc),
            )
            made |= fresh
        timings.record(f"describe the test files ({name})", time.time() - began, did_work=made)
    summary = {
        "command": command,
        "config": cfg.model_dump(mode="json"),
        "seeds": {"split": cfg.data.split_seed, "train": cfg.train.seed, "bootstrap": cfg.train.seed},
        "data": data,
        "decoding": decoding,
        "variants": {
            name: {
                "what": VARIANTS[name],
                "metrics": {test: corpus_scores([r["scores"] for r in rows[name][test]]) for test in sets.tests},
                "median_words": {
                    test: statistics.median(words(r["prediction"]) for r in rows[name][test]) for test in sets.tests
                },
            }
            for name in VARIANTS
        },
        "reference_median_words": {
            test: statistics.median(words(r.description) for r in records) for test, records in sets.tests.items()
        },
        "intervals": {test: _intervals(rows, test, cfg) for test in sets.tests},
        "cost": {name: stage_cost(m2t_cfg if name.startswith("m2t") else text_cfg, s) for name, s in stages.items()},
        "timings_s": timings.seconds,
        "val_loss_png": VAL_LOSS_PNG,
        "checkpoints": {"m2t": str(m2t_ckpt), "text_only": str(text_ckpt), "zero_shot": str(zero_ckpt)},
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "seconds": round(time.time() - started, 1),
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_report(summary, examples=_examples(out / "predictions" / "m2t")))
    return summary


def _intervals(rows: dict[str, dict[str, list[dict]]], test: str, cfg: Config) -> dict[str, dict]:
    """Per baseline, each metric's m2t-minus-baseline difference with its paired bootstrap 95% interval."""
    ours = [r["scores"] for r in rows["m2t"][test]]
    indices = resample_indices(len(ours), resamples=cfg.study.bootstrap, seed=cfg.train.seed)
    return {b: paired_intervals(ours, [r["scores"] for r in rows[b][test]], indices=indices) for b in BASELINES}


def _describer(checkpoint: Path, cfg: Config, generation: GenerationConfig) -> Callable[[list[Record], str], list[str]]:
    describer = Describer(checkpoint=checkpoint, cfg=cfg.model_copy(update={"generation": generation}))
    return lambda records, desc: predict(describer, records, desc=desc)


def _zeroed(describer: Describer, records: list[Record], desc: str) -> list[str]:
    with protein_zeroed(describer):
        return predict(describer, records, desc=desc)


def _examples(folder: Path, n: int = 10) -> list[dict]:
    """``n`` predictions spread over the first test file (every k-th row)."""
    files = sorted(folder.glob("*.jsonl"))
    rows = [json.loads(line) for line in files[0].read_text().splitlines()] if files else []
    step = max(len(rows) // n, 1)
    return rows[::step][:n]


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
