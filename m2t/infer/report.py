"""``report.md`` of an evaluation: the metrics table (x100, as papers print them) and a few examples per file."""

from __future__ import annotations

from collections.abc import Sequence

from m2t.infer.metrics import METRICS

HEADERS = {
    "bleu2": "BLEU-2",
    "bleu4": "BLEU-4",
    "meteor": "METEOR",
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
}


def cell(text: str | None, limit: int = 300) -> str:
    """``text`` on one line, safe in a Markdown table cell, cut at ``limit`` characters."""
    text = " ".join((text or "").split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_report(metrics: dict, predictions: Sequence[dict], *, examples: int = 3) -> str:
    """Markdown: one table row per file, then the first ``examples`` predictions of each file."""
    decoding = ", ".join(f"{k}={v}" for k, v in metrics["generation"].items())
    lines = [
        "# Evaluation report",
        "",
        f"Checkpoint: `{metrics['checkpoint']}`. Decoding: {decoding}.",
        "",
        "Metrics follow MutaPLM's evaluator (space-split tokens; corpus BLEU; mean METEOR and ROUGE F1), shown x100.",
        "",
        "| file | n | rejected | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
        "|---|---:|---:|" + "---:|" * len(METRICS),
    ]
    for name, m in metrics["files"].items():
        lines.append(
            f"| {cell(name)} | {m['n']} | {m['rejected']} | " + " | ".join(f"{100 * m[k]:.2f}" for k in METRICS) + " |"
        )
    for name in metrics["files"]:
        shown = [p for p in predictions if p["file"] == name][:examples]
        if not shown:
            continue
        lines += ["", f"## Examples from {name}", ""]
        for p in shown:
            lines += [
                f"**{cell(p['id'], 80)}** ({', '.join(p['mutations'])}"
                + (f"; {cell(p['protein_name'], 80)}" if p.get("protein_name") else "")
                + ")",
                "",
                f"- prediction: {cell(p['prediction'])}",
                f"- reference: {cell(p['reference'])}",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"
