"""Evaluate a finetuned checkpoint with MutaPLM's metrics (BLEU-2/4, METEOR, ROUGE-1/2/L), per data file.

    python jobs/evaluate.py                                  # tiny default: outputs/finetune/checkpoint on the test split
    python jobs/evaluate.py --checkpoint outputs/finetune/checkpoint \
        --data ../shared/data/mutadescribe/test_easy.csv ../shared/data/mutadescribe/test_medium.csv generation.batch_size=32

Data (MutaDescribe CSV, seed JSONL, records Parquet, ...) defaults to outputs/data/test.parquet, else the
synthetic test split. Writes metrics.json, predictions.jsonl, rejects.jsonl and report.md to --output
(default outputs/evaluate/), and logs the metrics and report.md to the MLflow run that trained the checkpoint
(tracking.*; docs/train.md). METEOR needs WordNet: `python -m m2t.infer.wordnet` (run automatically).
"""

from __future__ import annotations

from m2t.commands.args import job_parser, load, local_path
from m2t.infer.describer import finetuned_checkpoint
from m2t.infer.evaluate import evaluate
from m2t.infer.metrics import METRICS
from m2t.infer.report import HEADERS
from m2t.preflight import preflight


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=local_path, default=None, help="checkpoint dir (default: outputs/finetune/checkpoint)"
    )
    parser.add_argument(
        "--data", type=local_path, nargs="+", default=None, help="data file(s); metrics are reported per file"
    )
    parser.add_argument("--output", type=local_path, default=None, help="output dir (default: outputs/evaluate)")
    args = parser.parse_args()
    cfg = load(args)
    checkpoint = finetuned_checkpoint(cfg, args.checkpoint)
    preflight(cfg, outputs={"--output": args.output})
    output = args.output or cfg.stage_dir("evaluate")
    metrics = evaluate(cfg, checkpoint=checkpoint, data=args.data, output=output)
    print(f"{'file':24s} {'n':>6s} " + " ".join(f"{HEADERS[m]:>7s}" for m in METRICS) + "   (x100)")
    for name, m in metrics["files"].items():
        print(f"{name[:24]:24s} {m['n']:6d} " + " ".join(f"{100 * m[k]:7.2f}" for k in METRICS))
    print(f"evaluate: wrote metrics.json, predictions.jsonl, report.md to {output}")
    if metrics["model_card"]:
        print(f"evaluate: added the metrics to the model card {metrics['model_card']}")
    if metrics["mlflow"]:
        print(f"evaluate: logged to MLflow run {metrics['mlflow']['run_name']} ({metrics['mlflow']['run_id']})")
