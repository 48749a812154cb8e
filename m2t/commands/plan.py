"""Capacity plan of a config: per stage, parameters, GPU memory, FLOPs, time, epochs, store size and traffic.

    python jobs/plan.py --config jobs/configs/llama3_esm3.yaml \
        --data rows=166000,proteins=20000,residues=430,max_residues=1022,desc_chars=190,max_desc_chars=1060
    python jobs/plan.py --data outputs/data/records.parquet          # tiny default config, measured records
    python jobs/plan.py --config jobs/configs/llama3_esm3.yaml --data train.csv --gpu a100 --mfu 0.35 --json plan.json

Builds no weights and starts no Ray: the modules are built on the meta device and one step is measured on fake
tensors. What each figure means: docs/cluster.md (capacity plan).
"""

from __future__ import annotations

import json

from m2t.commands.args import job_parser, load, local_path
from m2t.plan.capacity import GPUS, plan
from m2t.plan.profile import data_profile
from m2t.plan.report import format_plan


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="record file(s), or rows=..,proteins=..,... profile")
    parser.add_argument("--gpu", choices=list(GPUS), default="h100", help="GPU kind (default h100)")
    parser.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation assumed (default 0.4)")
    parser.add_argument("--json", type=local_path, default=None, help="also write the plan as JSON here")
    args = parser.parse_intermixed_args()
    cfg = load(args)
    result = plan(cfg, data_profile(cfg, args.data), gpu=args.gpu, mfu=args.mfu)
    print(format_plan(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
