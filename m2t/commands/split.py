"""Split records by wild-type protein into DIR/train.parquet, DIR/val.parquet and (when asked) DIR/test.parquet.

    python jobs/split.py                                           # tiny default: outputs/data/records.parquet
    python jobs/split.py --input outputs/data/records.parquet --output outputs/data --val-fraction 0.1 --test-fraction 0.1 --seed 0

No protein is in two splits (grouped by accession, else by wild-type sequence); the same records and
seed give the same split. Fractions and seed default to data.val_fraction, data.test_fraction and
data.split_seed. Without --input and without a records.parquet, the synthetic set (data.synthetic) is split.
"""

from __future__ import annotations

import json

from m2t.commands.args import job_parser, load, local_path
from m2t.data.records import read_records_file, write_records
from m2t.data.split import protein_groups, split_records
from m2t.data.synthetic import generate
from m2t.errors import InputError
from m2t.preflight import preflight


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=local_path, default=None, help="records.parquet (default: outputs/data/records.parquet)"
    )
    parser.add_argument("--output", type=local_path, default=None, help="output directory (default: outputs/data)")
    parser.add_argument(
        "--val-fraction", type=float, default=None, help="fraction of records for val (data.val_fraction)"
    )
    parser.add_argument(
        "--test-fraction", type=float, default=None, help="fraction of records for test (data.test_fraction)"
    )
    parser.add_argument("--seed", type=int, default=None, help="split seed (data.split_seed)")
    args = parser.parse_args()
    flags = {"val_fraction": args.val_fraction, "test_fraction": args.test_fraction, "split_seed": args.seed}
    cfg = load(args, [f"data.{key}={value}" for key, value in flags.items() if value is not None])
    preflight(cfg, outputs={"--output": args.output})
    default_input = cfg.stage_dir("data") / "records.parquet"
    if args.input is None and not default_input.is_file() and not cfg.data.inputs:
        print(f"split: no {default_input}; splitting the synthetic set (data.synthetic)")
        records, source = generate(**cfg.data.synthetic.model_dump()), "synthetic"
    else:
        source = args.input or default_input
        records = read_records_file(source)
    out = args.output or cfg.stage_dir("data")
    if out.exists() and not out.is_dir():
        raise InputError(f"--output {out} is a file; pass a directory")
    out.mkdir(parents=True, exist_ok=True)
    splits = split_records(
        records, val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed
    )
    if cfg.data.test_fraction == 0:
        splits.pop("test")
        (out / "test.parquet").unlink(missing_ok=True)  # a stale one from an earlier run would mislead
    counts = {}
    for name, part in splits.items():
        write_records(out / f"{name}.parquet", part)
        counts[name] = {"records": len(part), "proteins": len(protein_groups(part))}
    summary = {
        "input": str(source),
        "seed": cfg.data.split_seed,
        "val_fraction": cfg.data.val_fraction,
        "test_fraction": cfg.data.test_fraction,
        "records": len(records),
        "splits": counts,
    }
    (out / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    shown = ", ".join(f"{name} {c['records']} ({c['proteins']} proteins)" for name, c in counts.items())
    print(f"split: {len(records)} records -> {shown} in {out}")
