"""``report.md`` of the study: data, the decoding chosen on val, the table per test file with each baseline's
difference to m2t and its bootstrap interval, the training runs, the time per phase, and ten examples."""

from __future__ import annotations

from m2t.infer.metrics import METRICS
from m2t.infer.report import HEADERS, cell

BASELINES = ("m2t_protein_zeroed", "text_only", "zero_shot", "retrieval")
PROTEIN_PATH = ("m2t_protein_zeroed", "text_only")  # the comparisons that ask whether the protein path helps


def wins(summary: dict, test: str) -> dict[str, int]:
    """For each baseline, on how many of the six metrics m2t scores higher on ``test``."""
    ours = summary["variants"]["m2t"]["metrics"][test]
    return {b: sum(ours[m] > summary["variants"][b]["metrics"][test][m] for m in METRICS) for b in BASELINES}


def interval(d: dict) -> str:
    """``+1.23 [0.40, 2.10]*`` (x100; * = the interval leaves out 0)."""
    return f"{100 * d['diff']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]" + ("*" if d["significant"] else "")


def verdict(intervals: dict[str, dict], baseline: str) -> str:
    """Which metrics m2t wins or loses against ``baseline`` with an interval that leaves out 0."""
    won = [HEADERS[m] for m in METRICS if intervals[baseline][m]["significant"] and intervals[baseline][m]["diff"] > 0]
    lost = [HEADERS[m] for m in METRICS if intervals[baseline][m]["significant"] and intervals[baseline][m]["diff"] < 0]
    parts = [f"better on {', '.join(won)}" if won else "", f"worse on {', '.join(lost)}" if lost else ""]
    said = "; ".join(p for p in parts if p) or "no significant difference on any metric"
    return f"against {baseline}: {said}"


def _decoding(summary: dict) -> list[str]:
    d = summary["decoding"]
    lines = [
        "## Decoding, chosen on val",
        "",
        "m2t described the val split with each candidate; the highest ROUGE-L + METEOR there, among the candidates "
        f"whose median answer has {d['length_band'][0]}-{d['length_band'][1]}x the references' words (all of them "
        "when none has), decoded every variant on the test files.",
        "",
        "| candidate | ROUGE-L | METEOR | median words | chosen |",
        "|---|---:|---:|---:|---|",
    ]
    for i, c in enumerate(d["candidates"]):
        name = ", ".join(f"{k}={v}" for k, v in c["overrides"].items()) or "generation as configured"
        lines.append(
            f"| {name} | {100 * c['metrics']['rougeL']:.2f} | {100 * c['metrics']['meteor']:.2f} | "
            f"{c['median_words']:g} | {'yes' if i == d['chosen'] else ''} |"
        )
    lines += [
        "",
        "Decoding used: " + ", ".join(f"{k}={v}" for k, v in d["generation"].items() if k != "batch_size") + ". "
        f"On val, m2t's median answer has {d['candidates'][d['chosen']]['median_words']:g} words, the references' "
        f"{d['reference_median_words']:g}: {d['length_ratio']:.2f}x.",
    ]
    return lines


def _results(summary: dict) -> list[str]:
    lines = ["## Results (x100; MutaPLM's metric protocol)"]
    for test, n in summary["data"]["tests"].items():
        rows = f"{n['rows']} rows" if n["rows"] == n["in_file"] else f"{n['rows']} of its {n['in_file']} rows scored"
        lines += ["", f"### {test} ({rows}, {n['proteins']} proteins)", ""]
        lines += [
            "| variant | " + " | ".join(HEADERS[m] for m in METRICS) + " | median words |",
            "|---|" + "---:|" * (len(METRICS) + 1),
        ]
        for name, v in summary["variants"].items():
            m = v["metrics"][test]
            lines.append(
                f"| {name}: {v['what']} | "
                + " | ".join(f"{100 * m[k]:.2f}" for k in METRICS)
                + f" | {v['median_words'][test]:g} |"
            )
        lines.append("| references | " + " | " * len(METRICS) + f"{summary['reference_median_words'][test]:g} |")
        intervals = summary["intervals"][test]
        lines += [
            "",
            f"m2t minus each baseline, with the paired bootstrap 95% interval ({summary['config']['study']['bootstrap']} "
            "resamples of the rows; * = the interval leaves out 0, a significant difference):",
            "",
            "| m2t minus | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
            "|---|" + "---:|" * len(METRICS),
        ]
        for b in BASELINES:
            lines.append(f"| {b} | " + " | ".join(interval(intervals[b][m]) for m in METRICS) + " |")
        lines += ["", "m2t, " + "; ".join(verdict(intervals, b) for b in BASELINES) + "."]
        lines += [
            "",
            "Does the protein path help? "
            + "; ".join(verdict(intervals, b) for b in PROTEIN_PATH)
            + " (m2t without its protein vectors, and a text-only model trained the same way).",
        ]
    return lines


def _training(summary: dict) -> list[str]:
    lines = [
        "## Training",
        "",
        f"![val loss per training run]({summary['val_loss_png']})",
        "",
        "| run | steps | epochs | samples/step | median s/step | wall s | best val loss | at step | stopped by |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for stage, c in summary["cost"].items():
        val = "-" if c["val_loss"] is None else f"{c['val_loss']:.3f}"
        lines.append(
            f"| {stage} | {c['steps']} | {c['epochs']} | {c['samples_per_step']} | {c['median_s_per_step']} | "
            f"{c['wall_s']:.0f} | {val} | {c['best_step']} | {c['stop_reason']} |"
        )
    lines += [
        "",
        "Stopped by: patience = val loss set no new low for `patience` evals in a row; steps / max_epochs = the "
        "configured length. The checkpoint used is the one of the lowest val loss.",
        "",
        "## Time per phase (seconds, from the invocation that did each)",
        "",
        "| phase | s |",
        "|---|---:|",
    ]
    lines += [f"| {phase} | {s:.0f} |" for phase, s in summary["timings_s"].items()]
    return lines


def render_report(summary: dict, *, examples: list[dict]) -> str:
    d, cfg = summary["data"], summary["config"]
    lines = [
        "# m2t on MutaDescribe: does the protein path help?",
        "",
        f"Command: `{summary['command']}` ({summary['seconds'] / 60:.0f} min in this invocation on "
        f"{summary['machine']['cpus']} CPUs; the time per phase is below).",
        f"Seeds: split {summary['seeds']['split']}, training and bootstrap {summary['seeds']['train']}. LLM "
        f"`{cfg['model']['llm']}`; encoder `{cfg['encoder']['backend']}` `{cfg['encoder']['name']}`; prompt fields "
        f"{cfg['model']['prompt_fields']} (values cut to {cfg['model']['prompt_field_words'] or 'no'} words).",
        "",
        "## Data",
        "",
        f"Training side: {d['train']['rows']} train rows ({d['train']['proteins']} proteins) and {d['val']['rows']} "
        f"val rows ({d['val']['proteins']} proteins), split by protein. Removed because their protein (accession or "
        f"wild-type sequence) is in a test file: {d['removed_for_test_proteins']} pool rows. Refused on reading "
        f"(reasons in the log): {d['rejected_on_reading']} rows. Proteins in both the training side and a test "
        f"file: {d['proteins_in_train_and_test']}.",
        "",
        *_decoding(summary),
        "",
        *_results(summary),
        "",
        *_training(summary),
        "",
        "## Ten m2t predictions beside their references",
        "",
        "| id | mutation | prediction | reference |",
        "|---|---|---|---|",
    ]
    for e in examples:
        lines.append(
            f"| {cell(e['id'])} | {cell(', '.join(e['mutations']))} | {cell(e['prediction'])} | "
            f"{cell(e['reference'])} |"
        )
    return "\n".join(lines) + "\n"
