"""The serve benchmark at a tiny size on the real app: counts, batch sizes and the scan's encoder calls."""

from __future__ import annotations

import pytest
from bench_checks import check_result

from m2t.bench.inputs import benchmark_records
from m2t.bench.scales import SCALES
from m2t.bench.serve import run_serve
from m2t.config import load_config


@pytest.mark.slow
def test_serve_levels_and_scan(ray_cluster, tmp_path):
    scale = SCALES["tiny"]
    records = benchmark_records(wild_types=3, length_scale=0.1, seed=1)
    results = run_serve(load_config(None, ["serve.use_gpu=false"]), scale, workdir=tmp_path, records=records)
    assert [r["benchmark"] for r in results] == ["serve_c1", "serve_c4", "scan"]
    for r in results:
        check_result(r)
    for r in results[:2]:
        for side in (r["ours"], r["baseline"]):
            assert (side["sent"], side["ok"], side["errors"]) == (scale.requests_per_level, scale.requests_per_level, 0)
            assert side["p50_ms"] <= side["p99_ms"]
            assert sum(int(size) * n for size, n in side["batch_sizes"].items()) == side["ok"]  # this level's batches
        assert r["baseline"]["mean_batch_size"] == 1.0 and set(r["baseline"]["batch_sizes"]) == {"1"}
        assert 1.0 <= r["ours"]["mean_batch_size"] <= 8
    scan = results[2]
    mutants = 19 * scale.scan_positions * scale.scan_wild_types
    assert scan["inputs"]["mutants"] == mutants and scan["ours"]["ok"] == scan["baseline"]["ok"] == mutants
    assert scan["ours"]["encoded_sequences"] == scale.scan_wild_types + mutants and scan["target"]["met"] is True
    # without the cache each batch encodes its wild type again
    assert scan["baseline"]["encoded_sequences"] == scan["baseline"]["generate_batches"] + mutants
