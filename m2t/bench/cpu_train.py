"""``train_real_cpu``: training steps on the real weights (SmolLM2-135M-Instruct) on CPU, ours against the plain
transformers + PEFT loop (:mod:`m2t.bench.plain`), on the study's config and training rows.

*Ours* is :func:`m2t.train.trainer.run_stage` itself (Ray Train, Ray Data, the loop's step, the batch maker,
DeepSpeed ZeRO-2), for one epoch over the rows, in each placement: one worker with every CPU (``one_worker``) and the
study's (``train.num_workers`` × ``train.cpus_per_worker``). Stage 2 is the study's text-only LoRA (the plain loop's
exact work); stage 1 trains the m2t adapter with the LLM frozen. An ``after_report`` hook (:class:`StepClock`)
stamps each step's end and each worker's peak RSS; the first step (warm-up) and the last (it writes the final
checkpoint) are not timed. *Baseline*: the plain loop in a fresh process with every CPU's thread, over the same rows
in a seeded order, its blocks run before, between and after ours so that load drift hits both.

Reported per side: samples/s, tokens/s (real tokens), the padding share (padded ÷ all tokens), the share of the
measured fp32 matmul peak (the LLM's forward + backward FLOPs of the real tokens, :func:`m2t.bench.plain.sequence_flops`)
and the peak RSS of every process.
"""

from __future__ import annotations

import json
import random
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from transformers import AutoTokenizer

from m2t.bench.machine import machine_info, torch_threads
from m2t.bench.plain import TrainBlock, example, train_block
from m2t.bench.report import load_before, result
from m2t.bench.scales import Scale
from m2t.bench.smollm2 import all_threads, study_rows, timed_prompt
from m2t.config import Config
from m2t.data.records import Record
from m2t.study.variants import untrained_checkpoint, variant_config, write_splits
from m2t.train.metrics import read_metrics
from m2t.train.trainer import run_stage

UNITS = "samples/s (optimizer steps, SmolLM2-135M-Instruct, CPU)"
STAGES = {"stage2": ("finetune", False), "stage1": ("pretrain", True)}  # name: (stage, use_protein)


class StepClock:
    """``after_report`` hook: every worker appends ``{step, rank, time, rss_gib}`` to ``<prefix>.<rank>.jsonl``."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = str(prefix)

    def __call__(self, *, step: int, rank: int) -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        with open(f"{self.prefix}.{rank}.jsonl", "a") as fh:
            fh.write(json.dumps({"step": step, "rank": rank, "time": time.time(), "rss_gib": round(rss, 2)}) + "\n")


def placements(cfg: Config) -> dict[str, tuple[int, float]]:
    """``{name: (workers, cpus per worker)}``: one worker with every CPU, and the study's placement."""
    return {"one_worker": (1, float(all_threads())), "study": (cfg.train.num_workers, cfg.train.cpus_per_worker)}


def run_ours(
    cfg: Config, rows: list[Record], *, stage: str, use_protein: bool, workers: int, cpus: float, root: Path
) -> dict:
    """One epoch of ``rows`` through ``run_stage`` in this placement; the timed steps' totals and the peak RSS."""
    stage_cfg = getattr(cfg.train, stage)
    steps = len(rows) // (stage_cfg.micro_batch_size * workers)
    if steps < 3:
        raise ValueError(f"{len(rows)} rows make {steps} steps; the benchmark times steps 2 to n-1 and needs 3")
    timed = {"steps": steps, "checkpoint_every": steps, "eval_every": 0, "log_generations": 0}
    train = cfg.train.model_copy(
        update={
            "num_workers": workers,
            "cpus_per_worker": cpus,
            "max_failures": 0,
            stage: stage_cfg.model_copy(update=timed),
        }
    )
    embed = cfg.embed.model_copy(update={"store": str((root.parent / "embeddings").resolve())})  # the runs share it
    vcfg = variant_config(cfg.model_copy(update={"train": train, "embed": embed}), root, use_protein=use_protein)
    write_splits(vcfg, train=rows, val=[])
    init = untrained_checkpoint(vcfg, root / "untrained", stage="pretrain") if stage == "finetune" else None
    clock = root / "clock"
    summary = run_stage(vcfg, stage=stage, init=init, after_report=StepClock(clock))
    metrics = read_metrics(summary["metrics"])[1 : steps - 1]  # steps 2 .. n-1
    stamps = [json.loads(line) for path in root.glob("clock.*.jsonl") for line in path.read_text().splitlines()]
    ends = {s["step"]: s["time"] for s in stamps if s["rank"] == 0}
    tokens = sum(m["tokens_per_s"] * m["samples"] / m["samples_per_s"] for m in metrics)
    return {
        "seconds": ends[steps - 1] - ends[1],
        "steps": len(metrics),
        "samples": sum(m["samples"] for m in metrics),
        "tokens": tokens,
        "padded_tokens": sum(
            m["tokens_per_s"] * m["samples"] / m["samples_per_s"] / (1 - m["padding_share"]) for m in metrics
        ),
        "peak_rss_gib": [max(s["rss_gib"] for s in stamps if s["rank"] == r) for r in range(workers)],
    }


def plain_block(cfg: Config, examples: list[dict], *, threads: int) -> TrainBlock:
    """One epoch of the plain loop over ``examples`` in a fresh process (its peak RSS is the loop's own)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(
            train_block,
            cfg,
            stage="finetune",
            examples=examples,
            micro_batch=cfg.train.finetune.micro_batch_size,
            threads=threads,
        ).result()


def side(
    seconds: float,
    *,
    steps: int,
    samples: int,
    tokens: float,
    padded: float,
    flops: float,
    peak: float,
    how: str,
    **extra,
) -> dict:
    return {
        "value": samples / seconds,
        "seconds": round(seconds, 2),
        "steps": steps,
        "samples": samples,
        "tokens_per_s": round(tokens / seconds, 1),
        "padding_share": round(1 - tokens / padded, 4),
        "flops_per_s": flops / seconds,
        "share_of_peak": round(flops / seconds / peak, 4),
        "how": how,
        **extra,
    }


def run_train_real_cpu(cfg: Config, scale: Scale, *, workdir: Path, records: list[Record] | None = None) -> list[dict]:
    """One result per (stage, placement) of ours against the pooled plain-loop blocks run between them."""
    before = load_before()
    cfg = timed_prompt(cfg)  # the same prompt as the plain script's
    train_rows, _ = study_rows(cfg)
    rows = train_rows[: scale.real_train_rows]
    threads = all_threads()
    with torch_threads(threads):
        machine = {**machine_info(), "loadavg_1m_before": before}
    tokenizer = AutoTokenizer.from_pretrained(str(cfg.model.llm))
    order = list(rows)
    random.Random(cfg.train.seed).shuffle(order)
    examples = [example(tokenizer, cfg, r) for r in order]
    blocks = [plain_block(cfg, examples, threads=threads)]
    ours: dict[tuple[str, str], dict] = {}
    for place, (workers, cpus) in placements(cfg).items():
        runs = [name for name in STAGES if scale.real_runs is None or (name, place) in scale.real_runs]
        for name in runs:
            stage, use_protein = STAGES[name]
            root = workdir / f"{name}_{place}"
            ours[name, place] = run_ours(
                cfg, rows, stage=stage, use_protein=use_protein, workers=workers, cpus=cpus, root=root
            )
        if runs:
            blocks.append(plain_block(cfg, examples, threads=threads))
    machine["loadavg_1m_after"] = load_before()
    a, b = blocks[0].flop_coefficients
    peak = machine["matmul_flops"]

    def flops_of(tokens_per_sample: list[int]) -> float:
        return sum(a * t + b * t * t for t in tokens_per_sample)

    lengths = [len(e["input_ids"]) for e in examples]
    per_token = flops_of(lengths) / sum(lengths)  # the rows' mean FLOPs per real token (attention makes it grow with T)
    plain_seconds = sum(x.seconds for x in blocks)
    plain_tokens = sum(x.tokens for x in blocks)
    baseline = side(
        plain_seconds,
        steps=sum(x.steps for x in blocks),
        samples=sum(x.samples for x in blocks),
        tokens=plain_tokens,
        padded=sum(x.padded_tokens for x in blocks),
        flops=per_token * plain_tokens,
        peak=peak,
        how=f"plain transformers + PEFT loop (AutoModelForCausalLM, get_peft_model, AdamW, clipping), text-only "
        f"prompt, micro-batch {cfg.train.finetune.micro_batch_size} padded to its longest, one process with "
        f"{threads} threads; {len(blocks)} blocks of one epoch run before, between and after ours",
        peak_rss_gib=[x.peak_rss_gib for x in blocks],
        first_loss=[round(x.first_loss, 4) for x in blocks],
    )
    out = []
    for (name, place), o in ours.items():
        stage, use_protein = STAGES[name]
        workers, cpus = placements(cfg)[place]
        mine = side(
            o["seconds"],
            steps=o["steps"],
            samples=o["samples"],
            tokens=o["tokens"],
            padded=o["padded_tokens"],
            flops=per_token * o["tokens"],
            peak=peak,
            how=f"run_stage {stage} ({'m2t adapter, LLM frozen' if use_protein else 'text-only LoRA'}): Ray Train, "
            f"{workers} worker(s) × {cpus:g} CPUs, DeepSpeed ZeRO-2, micro-batch "
            f"{getattr(cfg.train, stage).micro_batch_size} per worker, length-grouped",
            peak_rss_gib=o["peak_rss_gib"],
        )
        out.append(
            result(
                benchmark=f"train_real_cpu_{name}_{place}",
                ours=mine,
                baseline=baseline,
                units=UNITS,
                inputs={
                    "rows": len(rows),
                    "llm": str(cfg.model.llm),
                    "stage": stage,
                    "use_protein": use_protein,
                    "workers": workers,
                    "cpus_per_worker": cpus,
                    "torch_threads_per_worker": max(1, int(cpus)),
                    "mean_tokens_per_row": round(sum(lengths) / len(lengths), 1),
                    "lora": cfg.lora.model_dump(mode="json"),
                    "flops": "the LLM's forward + backward of the real tokens, counted on the LoRA model (adapter and padding not counted)",
                },
                machine=machine,
                target={"rule": ">= 1.0x (goal 1.3x)", "met": bool(mine["value"] >= baseline["value"])},
            )
        )
    return out
