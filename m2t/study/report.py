"""``report.md`` of the study: the table per test file, what it shows, the cost, the commands and ten examples."""

from __future__ import annotations

from m2t.infer.metrics import METRICS
from m2t.infer.report import HEADERS, cell

BASELINES = ("m2t_protein_zeroed", "text_only", "zero_shot", "retrieval")


def wins(summary: dict, test: str) -> dict[str, int]:
    """For each baseline, on how many of the six metrics m2t scores higher on ``test``."""
    ours = summary["variants"]["m2t"]["metrics"][test]
    return {b: sum(ours[m] > summary["variants"][b]["metrics"][test][m] for m in METRICS) for b in BASELINES}


def render_report(summary: dict, *, examples: list[dict]) -> str:
    d, cfg = summary["data"], summary["config"]
    lines = [
        "# m2t on MutaDescribe: does the protein path help?",
        "",
        f"Command: `{summary['command']}` ({summary['seconds'] / 60:.0f} min on {summary['machine']['cpus']} CPUs).",
        f"Seeds: split {summary['seeds']['split']}, training {summary['seeds']['train']}, encoder weights "
        f"{summary['seeds']['encoder']}. LLM `{cfg['model']['llm']}`; encoder `{cfg['encoder']['backend']}` "
        f"`{cfg['encoder']['name']}` (random weights); prompt fields {cfg['model']['prompt_fields']}; decoding "
        + ", ".join(f"{k}={v}" for k, v in cfg["generation"].items() if k != "batch_size")
        + ".",
        "",
        "## Data",
        "",
        f"Training side: {d['train']['rows']} train rows ({d['train']['proteins']} proteins) and {d['val']['rows']} "
        f"val rows ({d['val']['proteins']} proteins), split by protein. Removed because their protein (accession or "
        f"wild-type sequence) is in a test file: {d['removed_for_test_proteins']} pool rows. Refused on reading "
        f"(reasons in the log): {d['rejected_on_reading']} rows. Proteins in both the training side and a test "
        f"file: {d['proteins_in_train_and_test']}.",
        "",
        "## Results (x100; MutaPLM's metric protocol)",
    ]
    for test, n in d["tests"].items():
        rows = f"{n['rows']} rows" if n["rows"] == n["in_file"] else f"{n['rows']} of its {n['in_file']} rows scored"
        lines += ["", f"### {test} ({rows}, {n['proteins']} proteins)", ""]
        lines += ["| variant | " + " | ".join(HEADERS[m] for m in METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
        for name, v in summary["variants"].items():
            m = v["metrics"][test]
            lines.append(f"| {name}: {v['what']} | " + " | ".join(f"{100 * m[k]:.2f}" for k in METRICS) + " |")
        beaten = wins(summary, test)
        lines += ["", "m2t scores higher than " + "; ".join(f"{b} on {k} of 6" for b, k in beaten.items()) + "."]
    lines += [
        "",
        "## Cost",
        "",
        "| stage | steps | samples/step | median s/step | wall s | final val loss |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for stage, c in summary["cost"].items():
        lines.append(
            f"| {stage} | {c['steps']} | {c['samples_per_step']} | {c['median_s_per_step']} | "
            f"{c['wall_s']:.0f} | {c['val_loss'] if c['val_loss'] is None else round(c['val_loss'], 3)} |"
        )
    lines += [
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
