"""Benchmark sizes: plain numbers per ``--scale``. ``small`` is the default and keeps ``all`` within about
5 minutes on 2 CPU cores; ``tiny`` is a smoke test (seconds, numbers meaningless) used by the tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Scale:
    name: str
    # inputs (MutaDescribe-shaped): wild types drawn, their mutants kept, lengths multiplied by length_scale
    wild_types: int
    length_scale: float
    min_length: int = 20
    # embed: the encoder (ESM C architecture, random weights) and its micro-batch budget
    encoder_dim: int = 320
    encoder_layers: int = 6
    encoder_heads: int = 20
    token_budget: int = 8192
    ray_pipeline: bool = True  # also time the Ray Data pipeline end to end (actors + store writes)
    # train: timed optimizer steps (after one warm-up step each)
    train_steps: int = 24
    baseline_train_steps: int = 4
    train_pad_to: int = 1536  # the seed's fixed padded length
    # serve: each variant at each concurrency level sends for level_time_limit_s (or until it has sent
    # requests_per_level), so ours and the baseline are measured over the same stretch of time
    concurrency: tuple[int, ...] = (1, 8, 32)
    requests_per_level: int = 2000
    level_time_limit_s: float = 8.0
    max_new_tokens: int = 32
    # saturation scan: wild types scanned, positions per wild type (19 mutants each), sent at scan_concurrency
    scan_wild_types: int = 2
    scan_positions: int = 2
    scan_concurrency: int = 32
    # the real-weights CPU benchmarks (train_real_cpu, generate_real_cpu) on the study's config and rows:
    # training rows (one epoch per side), test rows described, of which per chunk one at a time, new tokens
    real_train_rows: int = 48
    real_test_rows: int = 64
    real_single_per_chunk: int = 4
    real_max_new_tokens: int | None = None  # None: the config's generation.max_new_tokens
    real_runs: tuple[tuple[str, str], ...] | None = None  # (stage1|stage2, one_worker|study); None: all four


SCALES = {
    "tiny": Scale(
        name="tiny",
        wild_types=3,
        length_scale=0.1,
        encoder_dim=64,
        encoder_layers=2,
        encoder_heads=4,
        token_budget=2048,
        ray_pipeline=False,
        train_steps=2,
        baseline_train_steps=1,
        train_pad_to=256,
        concurrency=(1, 4),
        requests_per_level=8,
        level_time_limit_s=30.0,
        max_new_tokens=4,
        scan_wild_types=1,
        scan_positions=1,
        scan_concurrency=8,
        real_train_rows=6,
        real_test_rows=4,
        real_single_per_chunk=2,
        real_max_new_tokens=4,
        real_runs=(("stage2", "study"),),
    ),
    "small": Scale(name="small", wild_types=40, length_scale=0.25),
    "medium": Scale(
        name="medium",
        wild_types=96,
        length_scale=0.5,
        train_steps=48,
        baseline_train_steps=8,
        requests_per_level=10_000,
        level_time_limit_s=20.0,
        scan_positions=5,
    ),
    "large": Scale(
        name="large",
        wild_types=198,
        length_scale=1.0,
        train_steps=96,
        baseline_train_steps=12,
        requests_per_level=100_000,
        level_time_limit_s=60.0,
        max_new_tokens=48,
        scan_wild_types=4,
        scan_positions=10,
    ),
}
