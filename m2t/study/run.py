"""Run the study end to end: leak-free sets, the trained variants, every variant on every test file, the results.

<out>/m2t/, <out>/text_only/        each variant's data copy, outputs/<stage>/ and Ray runs (as the jobs write them)
<out>/embeddings/                   the embedding store the variants share
<out>/predictions/<variant>/<test>.jsonl
<out>/results.json, <out>/report.md
"""

from __future__ import annotations

import json
import logging
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from m2t.atomic import atomic_write_text
from m2t.config import Config
from m2t.data.records import Record
from m2t.infer.describer import Describer
from m2t.infer.evaluate import predict
from m2t.infer.metrics import score
from m2t.study.report import render_report
from m2t.study.retrieval import Retrieval
from m2t.study.splits import StudySets, study_sets
from m2t.study.variants import protein_zeroed, train_m2t, train_text_only, variant_config, write_splits, zero_shot
from m2t.train.metrics import read_metrics

log = logging.getLogger(__name__)
VARIANTS = {
    "m2t": "m2t, both stages, prompt with the mutation text",
    "m2t_protein_zeroed": "the same checkpoint, protein vectors zeroed at test time",
    "text_only": "text-only LoRA, trained the same way without <delta_P>",
    "zero_shot": "the instruct LLM zero-shot, same prompt, no training",
    "retrieval": "reference text of the nearest training protein's closest mutation",
}


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Caps for ``--quick`` (None: everything)."""

    train_rows: int | None = None
    val_rows: int | None = None
    test_rows: int | None = None


def stage_cost(cfg: Config, summary: dict) -> dict:
    """Steps, median seconds per optimizer step and wall time of one training stage, from its metrics.jsonl."""
    rows = read_metrics(summary["metrics"])
    stage = getattr(cfg.train, summary["stage"])
    per_step = stage.micro_batch_size * stage.grad_accum * cfg.train.num_workers
    seconds = [per_step / r["samples_per_s"] for r in rows if r.get("samples_per_s")]
    return {
        "steps": summary["step"],
        "samples_per_step": per_step,
        "median_s_per_step": round(statistics.median(seconds), 2) if seconds else None,
        "wall_s": summary["seconds"],
        "val_loss": summary["val_loss"],
    }


def run_study(
    cfg: Config,
    *,
    pool: Sequence[Path],
    tests: Sequence[Path],
    out: Path,
    command: str,
    limits: Limits = Limits(),
) -> dict:
    """The whole study; writes and returns ``results.json``'s content (see the module docstring for the files)."""
    started = time.time()
    sets = study_sets(
        pool=pool,
        tests=tests,
        val_fraction=cfg.data.val_fraction,
        seed=cfg.data.split_seed,
        max_length=cfg.data.max_length,
    )
    in_file = {name: len(records) for name, records in sets.tests.items()}
    sets = capped(sets, limits, sample=cfg.study.test_rows, seed=cfg.data.split_seed)
    data = _data_summary(sets, in_file=in_file)
    log.warning("study data: %s", json.dumps(data))
    shared = {"embed": cfg.embed.model_copy(update={"store": str(out / "embeddings")})}
    m2t_cfg = variant_config(cfg.model_copy(update=shared), out / "m2t")
    text_cfg = variant_config(cfg.model_copy(update=shared), out / "text_only", use_protein=False)
    write_splits(m2t_cfg, train=sets.train, val=sets.val)
    write_splits(text_cfg, train=sets.train, val=sets.val)

    m2t_ckpt, m2t_stages = train_m2t(m2t_cfg)
    text_ckpt, text_stages = train_text_only(text_cfg)
    zero_ckpt = zero_shot(text_cfg)

    retrieval = Retrieval(sets.train)
    m2t = Describer(checkpoint=m2t_ckpt, cfg=m2t_cfg, store=out / "embeddings")
    predictors: dict[str, Callable[[list[Record], str], list[str]]] = {
        "m2t": lambda records, desc: predict(m2t, records, desc=desc),
        "m2t_protein_zeroed": lambda records, desc: _zeroed(m2t, records, desc),
        "text_only": _describer(text_ckpt, text_cfg),
        "zero_shot": _describer(zero_ckpt, text_cfg),
        "retrieval": lambda records, desc: [retrieval.predict(r) for r in records],
    }
    results: dict[str, dict] = {name: {} for name in VARIANTS}
    for name, predictor in predictors.items():
        for test, records in sets.tests.items():
            predictions = predictor(records, f"{name} on {test}")
            results[name][test] = score(predictions, [r.description for r in records])
            _write_predictions(out / "predictions" / name / f"{test}.jsonl", records, predictions)
    summary = {
        "command": command,
        "config": cfg.model_dump(mode="json"),
        "seeds": {"split": cfg.data.split_seed, "train": cfg.train.seed, "encoder": cfg.encoder.tiny.seed},
        "data": data,
        "variants": {name: {"what": VARIANTS[name], "metrics": metrics} for name, metrics in results.items()},
        "cost": {
            "m2t_pretrain": stage_cost(m2t_cfg, m2t_stages[0]),
            "m2t_finetune": stage_cost(m2t_cfg, m2t_stages[1]),
            "text_only_finetune": stage_cost(text_cfg, text_stages[0]),
        },
        "checkpoints": {"m2t": str(m2t_ckpt), "text_only": str(text_ckpt), "zero_shot": str(zero_ckpt)},
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "seconds": round(time.time() - started, 1),
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_report(summary, examples=_examples(out / "predictions" / "m2t")))
    return summary


def _describer(checkpoint: Path, cfg: Config) -> Callable[[list[Record], str], list[str]]:
    describer = Describer(checkpoint=checkpoint, cfg=cfg)
    return lambda records, desc: predict(describer, records, desc=desc)


def _zeroed(describer: Describer, records: list[Record], desc: str) -> list[str]:
    with protein_zeroed(describer):
        return predict(describer, records, desc=desc)


def capped(sets: StudySets, limits: Limits, *, sample: int | None = None, seed: int = 0) -> StudySets:
    """``sets`` within ``limits`` (the first rows), and each test file down to a seeded ``sample`` of its rows (in
    file order)."""

    def cap(records: list[Record], n: int | None) -> list[Record]:
        return records if n is None else records[:n]

    def sampled(records: list[Record]) -> list[Record]:
        if sample is None or sample >= len(records):
            return records
        return [records[i] for i in sorted(random.Random(seed).sample(range(len(records)), sample))]

    tests = {name: cap(sampled(records), limits.test_rows) for name, records in sets.tests.items()}
    return StudySets(
        train=cap(sets.train, limits.train_rows),
        val=cap(sets.val, limits.val_rows),
        tests=tests,
        rejects=sets.rejects,
        removed=sets.removed,
        shared_proteins=sets.shared_proteins,
    )


def _data_summary(sets: StudySets, *, in_file: dict[str, int]) -> dict:
    """Rows and proteins of each set; a test file's ``in_file`` is its rows before ``capped`` (what was scored is
    ``rows``)."""

    def count(records: list[Record]) -> dict:
        return {"rows": len(records), "proteins": len({r.protein_id or r.wild_type for r in records})}

    return {
        "train": count(sets.train),
        "val": count(sets.val),
        "tests": {name: {**count(records), "in_file": in_file[name]} for name, records in sets.tests.items()},
        "rejected_on_reading": len(sets.rejects),
        "removed_for_test_proteins": sets.removed,
        "proteins_in_train_and_test": sets.shared_proteins,
    }


def _write_predictions(path: Path, records: list[Record], predictions: list[str]) -> None:
    lines = [
        {
            "id": r.id,
            "mutations": list(r.mutations),
            "protein_name": r.protein_name,
            "prediction": p,
            "reference": r.description,
        }
        for r, p in zip(records, predictions, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(line) + "\n" for line in lines))


def _examples(folder: Path, n: int = 10) -> list[dict]:
    """``n`` predictions spread over the first test file (every k-th row)."""
    files = sorted(folder.glob("*.jsonl"))
    rows = [json.loads(line) for line in files[0].read_text().splitlines()] if files else []
    step = max(len(rows) // n, 1)
    return rows[::step][:n]


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
