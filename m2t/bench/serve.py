"""Serving benchmark: the real Serve app with ``@serve.batch`` vs the same app with batching off (max batch 1).

Both variants (and, for the scan, a third one without the wild-type cache) are deployed side by side
on 127.0.0.1 (see :mod:`m2t.bench.apps`) from one untrained checkpoint of the config, with
``serve.cpus_per_replica`` at most 0.5 so three replicas fit a 2-CPU machine (a replica computes on
one thread either way: Ray gives actors with one CPU or less ``OMP_NUM_THREADS=1``). At each
concurrency level the bounded load client (:mod:`m2t.bench.load`) drives ours, then the baseline,
with the same MutaDescribe-shaped requests; batch sizes come from the replicas' own counters.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from m2t.bench.apps import bench_checkpoint, served, stats
from m2t.bench.inputs import benchmark_records, describe_inputs
from m2t.bench.load import run_load
from m2t.bench.machine import machine_info
from m2t.bench.report import load_before, result
from m2t.bench.scales import Scale
from m2t.bench.scan import run_scan
from m2t.config import Config
from m2t.data.records import Record

UNITS = "requests/s (POST /v1/describe, answered 200)"


def _variant(cfg: Config, **serve_changes) -> Config:
    return cfg.model_copy(update={"serve": cfg.serve.model_copy(update=serve_changes)})


def bench_config(cfg: Config, scale: Scale) -> Config:
    """``cfg`` with the scale's generation length, CPU-only replicas of at most 0.5 CPU unless GPUs are used."""
    serve = {
        "cpus_per_replica": min(cfg.serve.cpus_per_replica, 0.5),
        "max_ongoing_requests": max(cfg.serve.max_ongoing_requests, max(scale.concurrency)),
    }
    generation = cfg.generation.model_copy(update={"max_new_tokens": scale.max_new_tokens})
    return Config.model_validate(
        {**cfg.model_dump(), "serve": {**cfg.serve.model_dump(), **serve}, "generation": generation.model_dump()}
    )


def _measure(url: str, payloads: list[dict], *, concurrency: int, scale: Scale) -> dict:
    before = stats(url)
    load = run_load(
        f"{url}/v1/describe",
        payloads,
        concurrency=concurrency,
        max_requests=scale.requests_per_level,
        time_limit_s=scale.level_time_limit_s,
    )
    after = stats(url)
    batches = after["batches"] - before["batches"]
    sizes = Counter(after["batch_sizes"]) - Counter(before["batch_sizes"])  # this level's batches only
    return {
        "value": load["requests_per_s"],
        **load,
        "mean_batch_size": (after["items"] - before["items"]) / batches if batches else None,
        "batch_sizes": dict(sorted(sizes.items(), key=lambda kv: int(kv[0]))),
    }


def warm_up(url: str, payloads: list[dict], *, batch: int) -> None:
    """A few requests, alone and in a burst, so neither variant pays first-call costs in the timed runs."""
    run_load(f"{url}/v1/describe", payloads, concurrency=1, max_requests=2, time_limit_s=60)
    run_load(f"{url}/v1/describe", payloads, concurrency=batch, max_requests=2 * batch, time_limit_s=60)


def run_serve(cfg: Config, scale: Scale, *, workdir: Path, records: list[Record] | None = None) -> list[dict]:
    """One result per concurrency level (``serve_c<N>``), then the saturation scan's (``scan``)."""
    before = load_before()
    records = (
        records
        if records is not None
        else benchmark_records(
            wild_types=scale.wild_types, length_scale=scale.length_scale, min_length=scale.min_length
        )
    )
    cfg = bench_config(cfg, scale)
    checkpoint = bench_checkpoint(cfg, workdir / "serve_checkpoint")
    variants = {"ours": cfg, "baseline": _variant(cfg, max_batch_size=1), "nocache": _variant(cfg, wt_cache_size=0)}
    payloads = [{"wild_type": r.wild_type, "mutations": list(r.mutations)} for r in records]
    inputs = {
        **describe_inputs(records),
        "max_new_tokens": scale.max_new_tokens,
        "requests_per_level": scale.requests_per_level,
        "level_time_limit_s": scale.level_time_limit_s,
        "max_batch_size": cfg.serve.max_batch_size,
        "batch_wait_timeout_s": cfg.serve.batch_wait_timeout_s,
        "cpus_per_replica": cfg.serve.cpus_per_replica,
        "checkpoint": "untrained stage-2 checkpoint of the config",
    }
    out = []
    with served(variants, checkpoint) as urls:
        for name in ("ours", "baseline"):
            warm_up(urls[name], payloads, batch=cfg.serve.max_batch_size)
        for c in scale.concurrency:
            machine = {**machine_info(), "loadavg_1m_before": before}
            ours = _measure(urls["ours"], payloads, concurrency=c, scale=scale)
            baseline = _measure(urls["baseline"], payloads, concurrency=c, scale=scale)
            ours["how"] = f"@serve.batch, max_batch_size={cfg.serve.max_batch_size}"
            baseline["how"] = "same app, max_batch_size=1"
            target = {"rule": "reported", "met": None}
            if c == 32:
                met = ours["value"] >= 4 * baseline["value"] and (ours["p99_ms"] or 0) <= (baseline["p99_ms"] or 0)
                target = {"rule": ">= 4x and p99 <= baseline's", "met": bool(met and not ours["errors"])}
            out.append(
                result(
                    benchmark=f"serve_c{c}",
                    ours=ours,
                    baseline=baseline,
                    units=UNITS,
                    inputs={**inputs, "concurrency": c},
                    machine=machine,
                    target=target,
                )
            )
            before = load_before()
        out.append(run_scan(scale, workdir=workdir, cache_url=urls["ours"], nocache_url=urls["nocache"], cfg=cfg))
    return out
