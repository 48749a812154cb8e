"""Stage 2: LoRA on the LLM, starting from the stage-1 checkpoint, on Ray Train with DeepSpeed ZeRO-2.

    python jobs/finetune.py                                       # tiny default: from outputs/pretrain/checkpoint
    python jobs/finetune.py --init outputs/pretrain/checkpoint train.finetune.steps=10
    ray job submit --working-dir . -- python jobs/finetune.py --config m2t/configs/llama3_esm3.yaml

A stage-1 checkpoint made for other dims, another encoder or another base LLM is refused (exit 3)
with the list of what differs. Rerunning the same command resumes the run from its last
checkpoint. Writes outputs/finetune/: checkpoint/ (adapter + LoRA in PEFT format, no base
weights), metrics.jsonl, loss.png, summary.json.
"""

from __future__ import annotations

import json

import ray

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load, local_path
from m2t.preflight import preflight
from m2t.train.trainer import run_stage


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--init", type=local_path, default=None, help="stage-1 checkpoint (default: outputs/pretrain/checkpoint)"
    )
    args = parser.parse_args()
    cfg = load(args)
    preflight(cfg, train=True)
    ray.init(**ray_init_args())
    print(json.dumps(run_stage(cfg, stage="finetune", init=args.init), indent=2))
