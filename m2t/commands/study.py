"""The quality study: does the protein path help, on real MutaDescribe data? Five variants, MutaPLM's metrics.

    python jobs/study.py                                   # m2t/configs/smollm2_mutadescribe.yaml (docs/study.md)
    python jobs/study.py --quick                           # a few steps and test rows: minutes (a smoke test)
    python jobs/study.py --test ../shared/data/mutadescribe/test_easy.csv train.finetune.patience=3

Trains m2t (both stages) and a text-only LoRA baseline the same way on the training pool (data.inputs) with every
test protein removed, each until val loss stops improving (or its cap), chooses the decoding on val, then scores
every variant on every row of every test file (study.tests, plus --test): m2t, m2t with the protein vectors zeroed,
text-only, the instruct LLM zero-shot and a retrieval baseline, with paired bootstrap intervals of each baseline's
difference to m2t. Writes results.json and report.md to --output (default outputs/study/; --quick:
outputs/study_quick/). Rerunning the same command resumes: finished training and predictions are reused.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import ray

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load
from m2t.config import CONFIGS_DIR
from m2t.errors import InputError
from m2t.preflight import preflight
from m2t.study.run import run_study
from m2t.study.splits import Limits

CONFIG = CONFIGS_DIR / "smollm2_mutadescribe.yaml"
# --quick: the whole study at smoke-test size (overrides applied before the command line's own)
QUICK = [
    "train.pretrain.steps=2",
    "train.finetune.steps=2",
    "train.pretrain.checkpoint_every=2",
    "train.finetune.checkpoint_every=2",
    "train.pretrain.eval_every=2",
    "train.finetune.eval_every=2",
    "train.pretrain.warmup_steps=0",
    "train.finetune.warmup_steps=0",
    "train.pretrain.micro_batch_size=2",
    "train.finetune.micro_batch_size=2",
    "generation.max_new_tokens=8",
    "generation.batch_size=8",
]
QUICK_LIMITS = Limits(train_rows=16, val_rows=4, test_rows=4)


def command_of(argv0: str) -> list[str]:
    """How the study was started, for its report: ``m2t study`` or ``python jobs/study.py``."""
    return argv0.split() if argv0.startswith("m2t ") else ["python", f"jobs/{Path(argv0).name}"]


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0], default_config=CONFIG)
    parser.add_argument("--test", type=Path, action="append", default=[], help="another test file (repeatable)")
    parser.add_argument("--quick", action="store_true", help="a few steps and test rows: the study in minutes")
    parser.add_argument("--output", type=Path, default=None, help="output dir (default: outputs/study/)")
    args = parser.parse_args()
    cfg = load(args, QUICK if args.quick else [])
    tests = [*cfg.study.tests, *args.test]
    for path in [*cfg.data.inputs, *tests]:
        if not Path(path).is_file():
            raise InputError(
                f"study input {path} not found (the MutaDescribe samples live in ../shared/data/mutadescribe)"
            )
    if not cfg.data.inputs or not tests:
        raise InputError(
            "the study needs a training pool (data.inputs) and at least one test file (study.tests, --test)"
        )
    out = args.output or cfg.stage_dir("study_quick" if args.quick else "study")
    preflight(cfg, outputs={"--output": out})
    ray.init(**ray_init_args(ignore_reinit_error=True))  # (tests run the job in a process already connected)
    summary = run_study(
        cfg,
        pool=cfg.data.inputs,
        tests=tests,
        out=Path(out),
        limits=QUICK_LIMITS if args.quick else Limits(),
        command=shlex.join([*command_of(sys.argv[0]), *sys.argv[1:]]),
    )
    print(f"study: {summary['seconds'] / 60:.1f} min; wrote {out / 'report.md'} and {out / 'results.json'}")
    print((Path(out) / "report.md").read_text())
