"""Run the chosen benchmarks in order and collect their results (what ``jobs/benchmark.py`` calls)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from m2t.bench.cpu_generate import run_generate_real_cpu
from m2t.bench.cpu_train import run_train_real_cpu
from m2t.bench.embed import run_embed
from m2t.bench.inputs import benchmark_records
from m2t.bench.scales import Scale
from m2t.bench.serve import run_serve
from m2t.bench.train import run_train
from m2t.bench.unirep import run_unirep
from m2t.config import Config

log = logging.getLogger(__name__)
# ours against the seed's way (and UniRep against a one-at-a-time loop), on tiny or small models (what ``all`` runs)
BENCHMARKS: dict[str, Callable[..., list[dict]]] = {
    "embed": run_embed,
    "train": run_train,
    "serve": run_serve,
    "unirep": run_unirep,
}
# ours against plain transformers + PEFT, on the real weights of the study's config (jobs/benchmark.py gives them
# that config)
REAL_CPU: dict[str, Callable[..., list[dict]]] = {
    "train_real_cpu": run_train_real_cpu,
    "generate_real_cpu": run_generate_real_cpu,
}


def expand(names: Sequence[str]) -> list[str]:
    """``names`` with ``all`` spelled out (:data:`BENCHMARKS`), checked against :data:`BENCHMARKS` and :data:`REAL_CPU`."""
    names = list(BENCHMARKS) if "all" in names else list(names)
    unknown = [n for n in names if n not in BENCHMARKS and n not in REAL_CPU]
    if unknown:
        raise ValueError(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join([*BENCHMARKS, *REAL_CPU])} or all"
        )
    return names


def needs_ray(names: Sequence[str], scale: Scale) -> bool:
    """Whether these benchmarks need a Ray cluster (serve, embed's Ray pipeline part, and train_real_cpu)."""
    names = expand(names)
    return "serve" in names or "train_real_cpu" in names or ("embed" in names and scale.ray_pipeline)


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
        results += {**BENCHMARKS, **REAL_CPU}[name](cfg, scale, workdir=workdir, records=records)
        log.info("benchmark %s done in %.0f s", name, time.perf_counter() - started)
    return results
