"""Stage 1: train the adapter (GCA + Perceiver resampler + projector) on Ray Train with DeepSpeed ZeRO-2.

    python jobs/pretrain.py                                       # tiny default, on a local Ray
    python jobs/pretrain.py train.pretrain.steps=10 train.num_workers=1
    ray job submit --working-dir . -- python jobs/pretrain.py --config m2t/configs/llama3_esm3.yaml

Connects to the Ray cluster in RAY_ADDRESS (or one started with `ray start` here), else starts one.
Missing splits or embeddings are made first. Rerunning the same command resumes the run from its
last checkpoint. Writes outputs/pretrain/: checkpoint/ (adapter, no base weights), metrics.jsonl,
loss.png, summary.json.
"""

from __future__ import annotations

import json

import ray

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load
from m2t.preflight import preflight
from m2t.train.trainer import run_stage


def main() -> None:
    cfg = load(job_parser(__doc__.splitlines()[0]).parse_args())
    preflight(cfg, train=True)
    ray.init(**ray_init_args())
    print(json.dumps(run_stage(cfg, stage="pretrain"), indent=2))
