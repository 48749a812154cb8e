"""Embed every distinct wild-type and mutant sequence once into the per-residue embedding store.

    python jobs/embed.py                                     # tiny default: the demo's records
    python jobs/embed.py --input data.jsonl --output outputs/embeddings embed.num_actors=2
    python jobs/embed.py --config jobs/configs/llama3_esm3.yaml --input outputs/data/records.parquet

Input, first found: --input files; the preprocessed outputs/data/records.parquet; data.inputs;
the synthetic set. Sequences already in the store are reused, so a rerun encodes only what is
missing. The summary is printed and written to STORE/summary.json; rejected rows to STORE/rejects.jsonl.
"""

from __future__ import annotations

import json

import ray

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load, local_path
from m2t.data.synthetic import generate
from m2t.embed.pipeline import embed_records
from m2t.preflight import preflight


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=local_path, nargs="+", default=None, help="record files (Parquet, JSONL, CSV, ...)"
    )
    parser.add_argument("--output", default=None, help="store directory or s3:// / gs:// prefix (default: embed.store)")
    args = parser.parse_args()
    cfg = load(args, [f"embed.store={args.output}"] if args.output else [])
    preflight(cfg, embed=True)
    preprocessed = cfg.stage_dir("data") / "records.parquet"
    if args.input:
        inputs = args.input
    elif preprocessed.is_file():
        inputs = [preprocessed]
    elif cfg.data.inputs:
        inputs = cfg.data.inputs
    else:
        inputs = generate(**cfg.data.synthetic.model_dump())
    ray.init(**ray_init_args())
    summary = embed_records(cfg, inputs)
    print(json.dumps(summary, indent=2))
