"""Bounded load test of the Serve app: valid and invalid requests mixed, every answer checked, replica memory watched.

    python jobs/loadtest.py                                   # 2,000 requests at concurrency 32, tiny untrained checkpoint
    python jobs/loadtest.py --checkpoint outputs/finetune/checkpoint --requests 10000 --concurrency 64
    python jobs/loadtest.py serve.max_batch_size=16 --out /tmp/load.json

Deploys the app on 127.0.0.1 in a local Ray cluster of its own, warms it up with --warmup requests of the
same mix (not counted), sends the requests (a quarter of them invalid: bad residues, wrong notation,
wrong types, over-limit sizes) and checks: zero 5xx, every request answered, every invalid one refused
with a 4xx, every valid one answered 200, and replica and proxy RSS growth under 10% from the first to
the last quarter of the run. Writes the result JSON (default outputs/reliability/load.json) and exits 0
when every check passes, 1 when one fails.
"""

from __future__ import annotations

import argparse
import json

from m2t.bench.report import write_json
from m2t.cluster import ray_init_args
from m2t.commands.args import debug_flag, load, local_path
from m2t.errors import M2TError
from m2t.preflight import preflight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests to send (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once (default 32)")
    parser.add_argument("--invalid-share", type=float, default=0.25, help="share of invalid requests (default 0.25)")
    parser.add_argument(
        "--warmup", type=int, default=500, help="requests of the same mix sent first, not counted (default 500)"
    )
    parser.add_argument(
        "--checkpoint", type=local_path, default=None, help="checkpoint to serve (default: an untrained tiny one)"
    )
    parser.add_argument(
        "--out", type=local_path, default=None, help="result JSON (default: outputs/reliability/load.json)"
    )
    parser.add_argument(
        "--config", type=local_path, default=None, help="YAML config file or a shipped config's name (default: tiny)"
    )
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. serve.max_batch_size=16")
    args = debug_flag(parser).parse_intermixed_args()
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0 or not 0 <= args.invalid_share < 1:
        parser.error("--requests and --concurrency must be >= 1, --warmup >= 0 and --invalid-share in [0, 1)")
    cfg = load(args)
    preflight(cfg)
    out = args.out or cfg.stage_dir("reliability") / "load.json"

    import ray

    from m2t.bench.loadtest import run_loadtest

    ray.init(**ray_init_args(address="local", include_dashboard=False))
    try:
        result = run_loadtest(
            cfg,
            workdir=cfg.stage_dir("reliability") / "work",
            checkpoint=args.checkpoint,
            requests=args.requests,
            concurrency=args.concurrency,
            invalid_share=args.invalid_share,
            warmup=args.warmup,
        )
    finally:
        ray.shutdown()
    write_json(result, out)
    print(
        json.dumps(
            {k: result[k] for k in ("checks", "rss")}
            | {"statuses": result["load"]["statuses"], "requests_per_s": round(result["load"]["requests_per_s"], 1)},
            indent=2,
        )
    )
    print(f"\nwrote {out}")
    if not result["passed"]:
        failed = [k for k, ok in result["checks"].items() if not ok]
        why = [f"{role}: {r['why']}" for role, r in result["rss"].items() if r.get("why")]
        raise M2TError(
            f"load test failed: {', '.join(failed)}{' (' + '; '.join(why) + ')' if why else ''} (details in {out})"
        )
