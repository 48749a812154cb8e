"""Describe many mutants offline on Ray Data: a mutation-set file, or a saturation scan of a FASTA wild type.

    python jobs/batch_score.py --scan wt.fasta --positions 1-50          # 19 substitutions per position
    python jobs/batch_score.py --input mutations.csv --output outputs/batch_score batch_score.num_actors=2
    python jobs/batch_score.py --config jobs/configs/llama3_esm3.yaml --checkpoint DIR --input variants.parquet

Inputs: CSV/JSONL/Parquet rows with `wild_type` and `mutations` (e.g. R175H) or `mutant` (a sequence),
optional `id` and `wild_type_id`. Writes predictions.parquet, predictions.jsonl (each row with its description and
effect_score), rejects.jsonl and summary.json to --output (default outputs/batch_score/); a scan also writes
scan_<id>.png heatmaps and a scan_<id>.html report per wild type. A rerun skips the rows already written.
"""

from __future__ import annotations

import json

import ray

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load, local_path
from m2t.infer.batch_score import batch_score
from m2t.infer.describer import finetuned_checkpoint
from m2t.preflight import preflight


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=local_path, default=None, help="checkpoint dir (default: outputs/finetune/checkpoint)"
    )
    parser.add_argument(
        "--input", type=local_path, nargs="+", default=None, help="mutation-set file(s): CSV, JSONL or Parquet"
    )
    parser.add_argument(
        "--scan", type=local_path, default=None, help="FASTA of wild type(s) to scan (every substitution)"
    )
    parser.add_argument("--positions", default=None, help="scan positions, 1-based: 1-50 or 1-10,20 (default: all)")
    parser.add_argument("--output", type=local_path, default=None, help="output dir (default: outputs/batch_score)")
    args = parser.parse_args()
    cfg = load(args)
    checkpoint = finetuned_checkpoint(cfg, args.checkpoint)
    preflight(cfg, outputs={"--output": args.output})
    ray.init(**ray_init_args(ignore_reinit_error=True))  # (tests run the job in a process already connected)
    summary = batch_score(
        cfg,
        checkpoint=checkpoint,
        output=args.output or cfg.stage_dir("batch_score"),
        inputs=args.input,
        scan=args.scan,
        positions=args.positions,
    )
    print(json.dumps(summary, indent=2))
    print(
        f"batch_score: {summary['scored']} scored, {summary['skipped']} skipped (already written), "
        f"{summary['rejected']} rejected of {summary['total']}; {summary['written']} rows in "
        f"{summary['outputs']['predictions.parquet']}"
    )
    for wt_id, files in summary["outputs"].get("scan_report", {}).items():
        print(f"scan of {wt_id}: heatmap {files['png'][0]}, report {files['html']}")
