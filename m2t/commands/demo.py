"""The whole tiny pipeline, offline on CPU: preprocess → split → embed → pretrain → finetune → evaluate → batch score.

    m2t demo                                 # what `make demo` runs (as python jobs/demo.py)
    m2t demo --config tiny train.pretrain.steps=10

Each step is the same `m2t <step>` command a user would type (run as `python -m m2t <step>`, the same command with
this interpreter), in order; the demo stops at the first failing step and says which one.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from m2t.commands.args import job_parser, load
from m2t.errors import M2TError
from m2t.preflight import preflight
from m2t.tracking import RunRef

STAGES = ("pretrain", "finetune")
SCAN_FASTA = ">demo_wt synthetic wild type for the saturation scan\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n"


def main() -> None:
    args = job_parser(__doc__.splitlines()[0]).parse_args()
    cfg = load(args)
    preflight(cfg)
    common = (["--config", str(args.config)] if args.config else []) + list(args.overrides)
    data, out = cfg.stage_dir("data"), cfg.output.root
    fasta = cfg.stage_dir("batch_score") / "demo_wt.fasta"
    fasta.parent.mkdir(parents=True, exist_ok=True)
    fasta.write_text(SCAN_FASTA)
    steps = [
        ("preprocess", ["--output", str(data)]),
        ("split", ["--input", str(data / "records.parquet"), "--output", str(data)]),
        ("embed", ["--input", str(data / "records.parquet")]),
        ("pretrain", []),
        ("finetune", []),
        ("evaluate", []),
        ("batch-score", ["--scan", str(fasta), "--positions", "1-5"]),
    ]
    started = time.time()
    for name, flags in steps:
        args = [name, *common, *flags]  # flags last: --input takes several values
        print(f"\n=== [{name}] m2t {shlex.join(args)}", flush=True)
        t0 = time.time()
        if subprocess.run([sys.executable, "-m", "m2t", *args]).returncode != 0:
            raise M2TError(f"demo step '{name}' failed; rerun it alone with: m2t {shlex.join(args)}")
        print(f"=== [{name}] done in {time.time() - t0:.0f}s", flush=True)
    print(f"\nDemo finished in {time.time() - started:.0f}s. Outputs (synthetic data, tiny models):")
    for stage in ("data", "embeddings", "pretrain", "finetune", "evaluate", "batch_score"):
        print(f"  {stage:12s} {Path(out) / stage}")
    scored = json.loads((cfg.stage_dir("batch_score") / "summary.json").read_text())
    effect = scored["effect_score"]
    for wt_id, files in scored["outputs"]["scan_report"].items():
        print(f"\nSaturation scan of {wt_id}, coloured by effect score:\n  heatmap {files['png'][0]}")
        print(f"  report  {files['html']} (open in a browser; hover or click a cell for its description)")
    print(f"  effect score: {effect['method']} of {effect['encoder_id']}: {effect['about']}")
    if effect["warning"]:
        print(f"  WARNING: {effect['warning']}")
    runs = {stage: json.loads((cfg.stage_dir(stage) / "summary.json").read_text())["mlflow"] for stage in STAGES}
    if all(runs.values()):
        print(f"\nMLflow runs in {runs['finetune']['uri']} (config, per-step metrics, loss.png, evaluation):")
        for stage, ref in runs.items():
            print(f"  {stage:12s} {ref['run_name']} (run id {ref['run_id']})")
        mlflow = os.path.relpath(Path(sys.executable).with_name("mlflow"))
        print(f"  open: {RunRef(**runs['finetune']).how_to_open(mlflow=mlflow)}")
    script = Path(sys.executable).with_name("m2t")  # `m2t` when that is the one on PATH, else this venv's
    m2t = "m2t" if shutil.which("m2t") == str(script) else os.path.relpath(script)
    checkpoint = cfg.stage_dir("finetune") / "checkpoint"
    describe = [m2t, "describe", *common, "--wild-type", SCAN_FASTA.split()[-1], "--mutation", "K2R"]
    print(f"\nThe finetuned checkpoint and its model card: {checkpoint}, {checkpoint / 'README.md'}")
    print(f"Describe one mutation from the shell:\n  {shlex.join(describe)}")
    print(
        f"\nServe the finetuned model over HTTP:\n  {shlex.join([m2t, 'serve', *common])}"
        "\n  then open the web page http://127.0.0.1:8000/ in a browser, or"
        "\n  curl -s localhost:8000/v1/describe -H 'content-type: application/json' "
        '-d \'{"wild_type": "MKTAYIAKQR", "mutations": "K2R"}\''
    )
