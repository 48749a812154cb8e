"""Benchmark results: one JSON object per benchmark, the table printed for people, and the targets.

Every result is ``{"benchmark", "ours", "baseline", "ratio", "units", "inputs", "machine", "target"}``;
``ours["value"]`` and ``baseline["value"]`` are in ``units`` and ``ratio`` says how many times better
ours is (higher is better for every benchmark).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from m2t.atomic import atomic_write_bytes


def result(
    *,
    benchmark: str,
    ours: dict,
    baseline: dict,
    units: str,
    inputs: dict,
    machine: dict,
    target: dict | None = None,
    ratio: float | None = None,
) -> dict:
    """A result object; ``ratio`` defaults to ``ours["value"] / baseline["value"]``."""
    if ratio is None:
        ratio = ours["value"] / baseline["value"] if baseline["value"] else float("inf")
    return {
        "benchmark": benchmark,
        "ours": ours,
        "baseline": baseline,
        "ratio": float(f"{ratio:.4g}"),
        "units": units,
        "inputs": inputs,
        "machine": machine,
        "target": target or {"rule": "none", "met": None},
    }


def load_before() -> float:
    """The 1-minute load average now (put beside the one after, a benchmark's results say how busy the machine was)."""
    return round(os.getloadavg()[0], 2)


def write_json(results: list[dict] | dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(results, indent=2) + "\n").encode())
    return path


def _num(x: float) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _met(target: dict) -> str:
    return {True: "met", False: "NOT met", None: "-"}[target.get("met")]


def format_table(results: list[dict]) -> str:
    """A markdown table: benchmark, ours, baseline, ratio, units, target and whether it is met."""
    rows = [("benchmark", "ours", "baseline", "ratio", "units", "target", "")]
    for r in results:
        rows.append(
            (
                r["benchmark"],
                _num(r["ours"]["value"]),
                _num(r["baseline"]["value"]),
                f"{r['ratio']:.2f}x",
                r["units"],
                r["target"]["rule"],
                _met(r["target"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
