"""Benchmarks with the baseline in the same run: embedding, training step, serving (+ saturation scan), UniRep scoring.

    python jobs/benchmark.py all                                   # small scale: about 5 minutes on 2 CPU cores
    python jobs/benchmark.py embed --scale medium --out outputs/benchmark/embed.json
    python jobs/benchmark.py serve serve.max_batch_size=16         # config overrides apply to "ours"
    python jobs/benchmark.py all --scale real --out real.json      # full ESM3-open + Llama-3.1-8B on one GPU, < 8 min
    python jobs/benchmark.py all --scale real --dry-run            # the same at toy size on CPU

Prints a table (ours, baseline, ratio, target) and writes the full results as JSON (default
outputs/benchmark/benchmark.json, or real.json there for --scale real). Starts a local Ray cluster of its own:
the serve benchmark starts and shuts down Ray Serve, which must not touch a cluster that serves anything else.
``--scale real`` (docs/performance.md) runs in this process without Ray or DeepSpeed, on the real setup's
config (jobs/configs/llama3_esm3.yaml unless --config) with random weights; it exits at once with a one-line
message when no GPU is visible, unless --dry-run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from m2t.bench.report import format_table, write_json
from m2t.bench.scales import SCALES
from m2t.cluster import ray_init_args
from m2t.commands.args import debug_flag, load, local_path
from m2t.config import CONFIGS_DIR
from m2t.preflight import preflight

BENCHMARKS = (
    "embed",
    "train",
    "serve",
    "unirep",
)  # m2t.bench.run.BENCHMARKS; named here so --scale real never imports Ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"], help="which benchmark to run")
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
        help="YAML config file or a shipped config's name (default: tiny; llama3_esm3 for --scale real)",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. serve.max_batch_size=16")
    args = debug_flag(parser).parse_intermixed_args()  # overrides may follow the options
    if args.dry_run and args.scale != "real":
        parser.error("--dry-run goes with --scale real")
    if args.scale == "real":
        return real(args)
    cfg = load(args)
    preflight(cfg)
    out = args.out or cfg.stage_dir("benchmark") / "benchmark.json"

    import ray

    from m2t.bench.run import needs_ray, run_benchmarks

    scale = SCALES[args.scale]
    if needs_ray([args.benchmark], scale):
        ray.init(**ray_init_args(address="local", include_dashboard=False))
    try:
        results = run_benchmarks(cfg, [args.benchmark], scale=scale, workdir=cfg.stage_dir("benchmark") / "work")
    finally:
        ray.shutdown()
    print(format_table(results))
    print(f"\nwrote {write_json(results, out)}")


def real(args: argparse.Namespace) -> None:
    from m2t.bench.real_run import check_device, run_real
    from m2t.bench.real_scale import DRY, REAL

    scale = DRY if args.dry_run else REAL
    check_device(scale)  # before anything slow
    args.config = args.config or CONFIGS_DIR / "llama3_esm3.yaml"
    cfg = load(args)
    preflight(cfg)
    out = args.out or Path("outputs") / "benchmark" / f"{scale.name}.json"
    results = run_real(cfg, [args.benchmark], scale=scale, out=out)
    print(format_table(results))
    print(f"\nwrote {out}")
