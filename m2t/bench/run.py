"""Run the chosen benchmarks in order and collect their results (what ``jobs/benchmark.py`` calls)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from m2t.bench.embed import run_embed
from m2t.bench.inputs import benchmark_records
from m2t.bench.scales import Scale
from m2t.bench.serve import run_serve
from m2t.bench.train import run_train
from m2t.bench.unirep import run_unirep
from m2t.config import Config

log = logging.getLogger(__name__)
BENCHMARKS: dict[str, Callable[..., list[dict]]] = {
    "embed": run_embed,
    "train": run_train,
    "serve": run_serve,
    "unirep": run_unirep,
}


def expand(names: Sequence[str]) -> list[str]:
    """``names`` with ``all`` spelled out, checked against :data:`BENCHMARKS`."""
    names = list(BENCHMARKS) if "all" in names else list(names)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)} or all")
    return names


def needs_ray(names: Sequence[str], scale: Scale) -> bool:
    """Whether these benchmarks need a Ray cluster (the serve benchmark, and embed's Ray pipeline part)."""
    names = expand(names)
    return "serve" in names or ("embed" in names and scale.ray_pipeline)


def run_benchmarks(cfg: Config, names: Sequence[str], *, scale: Scale, workdir: Path) -> list[dict]:
    """Results of ``names`` (each of :data:`BENCHMARKS`, or ``"all"``), all on the same records.

    ``embed`` (its Ray part) and ``serve`` need a running Ray cluster; ``serve`` starts and shuts down
    Ray Serve on it, so run it on a cluster of its own (``jobs/benchmark.py`` starts a local one).
    """
    names = expand(names)
    workdir.mkdir(parents=True, exist_ok=True)
    records = benchmark_records(
        wild_types=scale.wild_types, length_scale=scale.length_scale, min_length=scale.min_length
    )
    results: list[dict] = []
    for name in names:
        started = time.perf_counter()
        results += BENCHMARKS[name](cfg, scale, workdir=workdir, records=records)
        log.info("benchmark %s done in %.0f s", name, time.perf_counter() - started)
    return results
