"""Benchmarks with the baseline in the same run: embedding, training step, serving (+ saturation scan), UniRep scoring.

    python jobs/benchmark.py all                                   # small scale: about 5 minutes on 2 CPU cores
    python jobs/benchmark.py train_real_cpu generate_real_cpu      # real SmolLM2 weights vs plain transformers + PEFT
    python jobs/benchmark.py embed --scale medium --out outputs/benchmark/embed.json
    python jobs/benchmark.py serve serve.max_batch_size=16         # config overrides apply to "ours"
    python jobs/benchmark.py all --scale real --out real.json      # full ESM3-open + Llama-3.1-8B on one GPU, < 8 min
    python jobs/benchmark.py all --scale real --dry-run            # the same at toy size on CPU

Prints a table (ours, baseline, ratio, target) and writes the full results as JSON (default
outputs/benchmark/benchmark.json, or real.json there for --scale real). Starts a local Ray cluster of its own:
the serve benchmark starts and shuts down Ray Serve, which must not touch a cluster that serves anything else.
``--scale real`` (docs/performance.md) runs in this process without Ray or DeepSpeed, on the real setup's
config (jobs/configs/llama3_esm3.yaml unless --config) with random weights; it exits at once with a one-line
message when no GPU is visible, unless --dry-run. ``train_real_cpu`` and ``generate_real_cpu`` run on the quality
study's config (smollm2_mutadescribe unless --config), so they are run on their own.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from m2t.bench.report import format_table, write_json
from m2t.bench.scales import SCALES
from m2t.cluster import ray_init_args
from m2t.commands.args import debug_flag, load, local_path
from m2t.config import CONFIGS_DIR
from m2t.preflight import preflight

# m2t.bench.run's BENCHMARKS and REAL_CPU; named here so --scale real never imports Ray
BENCHMARKS = ("embed", "train", "serve", "unirep")
REAL_CPU = ("train_real_cpu", "generate_real_cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "benchmark",
        nargs="+",
        help=f"which benchmarks to run ({', '.join([*BENCHMARKS, *REAL_CPU])} or all), then config overrides "
        "(key=value, e.g. serve.max_batch_size=16; they apply to ours)",
    )
    parser.add_argument(
        "--scale",
        choices=[*SCALES, "real"],
        default="small",
        help="input and run sizes (default: small; tiny is a smoke test; real = full models on a GPU)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="--scale real only: toy sizes on CPU, to check the script"
    )
    parser.add_argument(
        "--out", type=local_path, default=None, help="JSON file (default: outputs/benchmark/benchmark.json)"
    )
    parser.add_argument(
        "--config",
        type=local_path,
        default=None,
        help="YAML config file or a shipped config's name (default: tiny; smollm2_mutadescribe for train_real_cpu "
        "and generate_real_cpu; llama3_esm3 for --scale real)",
    )
    args = debug_flag(parser).parse_intermixed_args()  # overrides may follow the options
    names = [n for n in args.benchmark if "=" not in n]
    args.overrides = [n for n in args.benchmark if "=" in n]  # config overrides, e.g. serve.max_batch_size=16
    unknown = [n for n in names if n not in (*BENCHMARKS, *REAL_CPU, "all")]
    if unknown or not names:
        choices = ", ".join([*BENCHMARKS, *REAL_CPU])
        parser.error(f"unknown benchmark {', '.join(unknown) or '(none)'}; choose from {choices} or all")
    real_cpu = [n for n in names if n in REAL_CPU]
    if real_cpu and len(real_cpu) < len(names):
        parser.error(f"{', '.join(real_cpu)} run on the study's config: run them without the other benchmarks")
    if real_cpu and args.scale == "real":
        parser.error(f"{', '.join(real_cpu)} run on CPU at --scale tiny|small|medium|large, not --scale real")
    if args.dry_run and args.scale != "real":
        parser.error("--dry-run goes with --scale real")
    if args.scale == "real":
        args.benchmark = names
        return real(args)
    if real_cpu and args.config is None:
        args.config = CONFIGS_DIR / "smollm2_mutadescribe.yaml"
    cfg = load(args)
    preflight(cfg)
    out = args.out or cfg.stage_dir("benchmark") / "benchmark.json"

    import ray

    from m2t.bench.run import needs_ray, run_benchmarks

    scale = SCALES[args.scale]
    if needs_ray(names, scale):
        # train_real_cpu's one worker takes every CPU; Ray Data's read tasks then need one more (logical) CPU
        extra = {"num_cpus": os.cpu_count() + 1} if "train_real_cpu" in names else {}
        ray.init(**ray_init_args(address="local", include_dashboard=False, **extra))
    try:
        results = run_benchmarks(cfg, names, scale=scale, workdir=cfg.stage_dir("benchmark") / "work")
    finally:
        ray.shutdown()
    print(format_table(results))
    print(f"\nwrote {write_json(results, out)}")


def real(args: argparse.Namespace) -> None:
    from m2t.bench.gpu.run import check_device, run_real
    from m2t.bench.gpu.scale import DRY, REAL

    scale = DRY if args.dry_run else REAL
    check_device(scale)  # before anything slow
    args.config = args.config or CONFIGS_DIR / "llama3_esm3.yaml"
    cfg = load(args)
    preflight(cfg)
    out = args.out or Path("outputs") / "benchmark" / f"{scale.name}.json"
    results = run_real(cfg, args.benchmark, scale=scale, out=out)
    print(format_table(results))
    print(f"\nwrote {out}")
