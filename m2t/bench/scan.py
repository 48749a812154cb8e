"""Saturation-scan benchmark: every substitution at a few positions of fresh wild types, sent to the real
app with the wild-type embedding cache (ours) and without it (``serve.wt_cache_size=0``).

The requests come from :func:`m2t.infer.scan.scan_records` (the batch-scoring scan input) on a FASTA
of synthetic wild types that no earlier request used, all sent at once at ``scale.scan_concurrency``.
The encoder counts are the replicas' own (``/v1/model`` → ``stats.encoded_sequences``): with the cache
each wild type is encoded once, so ours should encode exactly unique wild types + mutants.
"""

from __future__ import annotations

from pathlib import Path

from m2t.bench.apps import stats
from m2t.bench.load import run_load
from m2t.bench.machine import machine_info
from m2t.bench.report import load_before, result
from m2t.bench.scales import Scale
from m2t.config import Config
from m2t.data.synthetic import generate
from m2t.infer.scan import scan_records

UNITS = "mutants/s (scan requests answered per second)"


def scan_payloads(scale: Scale, *, workdir: Path, cfg: Config) -> tuple[list[dict], int]:
    """``(requests, unique wild types)``: 19 substitutions at positions 2..1+scan_positions of each wild type."""
    wts = {
        r.wild_type
        for r in generate(
            n_proteins=scale.scan_wild_types,
            mutants_per_protein=1,
            min_length=max(20, scale.min_length),
            max_length=max(40, 4 * scale.min_length),
            seed=12345,
        )
    }
    fasta = workdir / "scan.fasta"
    fasta.write_text("".join(f">scan{i}\n{wt}\n" for i, wt in enumerate(sorted(wts))))
    read = scan_records(
        fasta,
        positions=f"2-{1 + scale.scan_positions}",
        max_length=cfg.data.max_length,
        extended_alphabet=cfg.data.extended_alphabet,
    )
    return [{"id": r.id, "wild_type": r.wild_type, "mutations": list(r.mutations)} for r in read.accepted], len(wts)


def _scan(url: str, payloads: list[dict], concurrency: int) -> dict:
    before = stats(url)
    load = run_load(
        f"{url}/v1/describe", payloads, concurrency=concurrency, max_requests=len(payloads), time_limit_s=600
    )
    after = stats(url)
    return {
        "value": load["requests_per_s"],
        "wall_s": load["seconds"],
        "ok": load["ok"],
        "errors": load["errors"],
        "encoded_sequences": after["encoded_sequences"] - before["encoded_sequences"],
        "encoder_batches": after["encoder_batches"] - before["encoder_batches"],
        "wt_cache_hits": after["wt_cache"]["hits"] - before["wt_cache"]["hits"],
        "generate_batches": after["batches"] - before["batches"],
    }


def run_scan(scale: Scale, *, workdir: Path, cache_url: str, nocache_url: str, cfg: Config) -> dict:
    """The ``scan`` result: ours = the app with its wild-type cache, baseline = the same app without."""
    before = load_before()
    payloads, unique_wts = scan_payloads(scale, workdir=workdir, cfg=cfg)
    machine = {**machine_info(), "loadavg_1m_before": before}
    ours = {**_scan(cache_url, payloads, scale.scan_concurrency), "how": f"wt_cache_size={cfg.serve.wt_cache_size}"}
    baseline = {**_scan(nocache_url, payloads, scale.scan_concurrency), "how": "wt_cache_size=0"}
    expected = unique_wts + len(payloads)
    inputs = {
        "wild_types": unique_wts,
        "mutants": len(payloads),
        "positions_per_wild_type": scale.scan_positions,
        "concurrency": scale.scan_concurrency,
        "expected_encoded_sequences": expected,
        "max_batch_size": cfg.serve.max_batch_size,
        "max_new_tokens": scale.max_new_tokens,
    }
    met = ours["encoded_sequences"] == expected and ours["ok"] == len(payloads)
    return result(
        benchmark="scan",
        ours=ours,
        baseline=baseline,
        units=UNITS,
        inputs=inputs,
        machine=machine,
        target={"rule": "encoder calls = unique WTs + mutants", "met": bool(met)},
    )
