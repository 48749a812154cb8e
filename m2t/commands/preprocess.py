"""Read, validate and normalise input records: DIR/records.parquet, DIR/rejects.jsonl, DIR/summary.json.

    python jobs/preprocess.py                                      # tiny default: the synthetic set
    python jobs/preprocess.py --input data.jsonl --input ../shared/data/mutadescribe/test_medium.csv --output outputs/data
    python jobs/preprocess.py --input big.csv --ray data.max_length=1024

Inputs: --input files, else data.inputs, else the synthetic set (data.synthetic). Every row is
accepted or written to rejects.jsonl with its source, line, reason and raw text; the job exits 0
even with rejects, and 2 when it cannot run (a missing input, an unwritable output). Inputs of
data.ray_threshold_mb or more (or with --ray) are validated on Ray Data; smaller ones in this process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load, local_path
from m2t.data.readers import ReadResult, format_summary, read_records
from m2t.data.records import write_records
from m2t.data.sources import check_input
from m2t.data.synthetic import generate
from m2t.errors import InputError
from m2t.preflight import preflight


def _output_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise InputError(f"--output {path} is a file; pass a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output directory {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"the output directory {path} is not writable")
    return path


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--input", type=local_path, action="append", default=None, help="input file (repeatable)")
    parser.add_argument("--output", type=local_path, default=None, help="output directory (default: outputs/data)")
    parser.add_argument("--ray", action="store_true", help="validate on Ray Data whatever the input size")
    args = parser.parse_args()
    cfg = load(args)
    preflight(cfg, outputs={"--output": args.output})
    inputs = args.input or cfg.data.inputs
    for path in inputs:
        check_input(path)
    out = _output_dir(args.output or cfg.stage_dir("data"))
    started = time.perf_counter()
    use_ray = bool(inputs) and (args.ray or sum(p.stat().st_size for p in inputs) >= cfg.data.ray_threshold_mb * 2**20)
    if inputs:
        if use_ray:
            import ray

            ray.init(**ray_init_args())
        result = read_records(
            inputs, max_length=cfg.data.max_length, extended_alphabet=cfg.data.extended_alphabet, use_ray=use_ray
        )
    else:
        records = generate(**cfg.data.synthetic.model_dump())
        result = ReadResult(accepted=records, rejects=[], sources=["synthetic"])
    write_records(out / "records.parquet", result.accepted)
    (out / "rejects.jsonl").write_text("".join(json.dumps(vars(r)) + "\n" for r in result.rejects))
    summary = {
        **result.summary(),
        "inputs": [str(p) for p in inputs] or ["synthetic"],
        "engine": "ray" if use_ray else "in-process",
        "max_length": cfg.data.max_length,
        "extended_alphabet": cfg.data.extended_alphabet,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"preprocess: {format_summary(summary)} -> {out}/records.parquet"
        + (f", reasons in {out}/rejects.jsonl" if result.rejects else "")
    )
