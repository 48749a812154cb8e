"""Benchmarks with the baseline in the same run: embedding, training step, serving (+ saturation scan).

    python jobs/benchmark.py all                                   # small scale: about 5 minutes on 2 CPU cores
    python jobs/benchmark.py embed --scale medium --out outputs/benchmark/embed.json
    python jobs/benchmark.py serve serve.max_batch_size=16         # config overrides apply to "ours"

Prints a table (ours, baseline, ratio, target) and writes the full results as JSON (default
outputs/benchmark/benchmark.json). Starts a local Ray cluster of its own: the serve benchmark starts
and shuts down Ray Serve, which must not touch a cluster that serves anything else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from m2t.bench.report import format_table, write_json
from m2t.bench.run import BENCHMARKS, needs_ray, run_benchmarks
from m2t.bench.scales import SCALES
from m2t.cli import load, run
from m2t.cluster import ray_init_args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"], help="which benchmark to run")
    parser.add_argument(
        "--scale",
        choices=list(SCALES),
        default="small",
        help="input and run sizes (default: small; tiny is a smoke test)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: outputs/benchmark/benchmark.json)")
    parser.add_argument("--config", type=Path, default=None, help="YAML config (default: jobs/configs/tiny.yaml)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. serve.max_batch_size=16")
    args = parser.parse_intermixed_args()  # overrides may follow the options
    cfg = load(args)
    out = args.out or cfg.stage_dir("benchmark") / "benchmark.json"

    scale = SCALES[args.scale]
    import ray

    if needs_ray([args.benchmark], scale):
        ray.init(**ray_init_args(address="local", include_dashboard=False))
    try:
        results = run_benchmarks(cfg, [args.benchmark], scale=scale, workdir=cfg.stage_dir("benchmark") / "work")
    finally:
        ray.shutdown()
    print(format_table(results))
    print(f"\nwrote {write_json(results, out)}")


if __name__ == "__main__":
    run(main)
