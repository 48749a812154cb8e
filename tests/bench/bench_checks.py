"""Checks shared by the benchmark tests: every result is complete, JSON-safe and sane."""

from __future__ import annotations

import json
import math

KEYS = {"benchmark", "ours", "baseline", "ratio", "units", "inputs", "machine", "target"}


def check_result(r: dict) -> None:
    assert set(r) == KEYS, set(r) ^ KEYS
    json.dumps(r, allow_nan=False)
    assert r["ours"]["value"] > 0 and r["baseline"]["value"] > 0
    assert r["ratio"] > 0 and math.isclose(r["ratio"], r["ours"]["value"] / r["baseline"]["value"], rel_tol=1e-2)
    assert r["machine"]["matmul_flops"] > 0 and r["machine"]["cpu_count"] >= 1
    assert r["units"] and r["target"]["rule"] and r["target"]["met"] in (True, False, None)
