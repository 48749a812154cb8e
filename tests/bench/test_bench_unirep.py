"""The UniRep scoring benchmark at a tiny size: both sides score the same variants to the same values."""

from __future__ import annotations

from bench_checks import check_result

from m2t.bench.scales import SCALES
from m2t.bench.unirep import TEM1, scan_variants
from m2t.config import load_config


def test_scan_variants_spread_over_the_protein():
    seqs, names = scan_variants(TEM1, 3)
    assert len(seqs) == len(names) == 3 * 19
    assert {n[0][1:-1] for n in names} == {"1", "143", "286"}
    assert all(len(s) == len(TEM1) and s != TEM1 for s in seqs)


def test_unirep_benchmark(tmp_path):
    from m2t.bench.unirep import run_unirep

    (r,) = run_unirep(load_config(None), SCALES["tiny"], workdir=tmp_path, rounds=2)
    check_result(r)
    assert r["inputs"]["encoder"] == "unirep:64" and r["inputs"]["variants"] == 2 * 19
    assert r["inputs"]["max_abs_diff"] < 1e-3  # prefix reuse and batching change no score
    assert 0 < r["ours"]["share_of_peak"] < 1 and 0 < r["baseline"]["share_of_peak"] < 1
