"""What the real-weights CPU benchmarks (``train_real_cpu``, ``generate_real_cpu``) run on: the quality study's config
(SmolLM2-135M-Instruct, UniRep-1900, ``m2t/configs/smollm2_mutadescribe.yaml``) and its MutaDescribe rows: the
leak-free training split and the test rows the study scores (all of them, or ``study.test_rows`` sampled). The prompt
leaves out the ``neighbour`` field: its retrieval index is the study's, built from the training split, not part of the
step or the describe call being timed, and the plain script a user would write has none."""

from __future__ import annotations

import os
from pathlib import Path

from m2t.config import CONFIGS_DIR, Config, load_config
from m2t.data.records import Record
from m2t.errors import InputError
from m2t.study.splits import Limits, capped, study_sets

STUDY_CONFIG = CONFIGS_DIR / "smollm2_mutadescribe.yaml"


def check_llm(cfg: Config) -> Path:
    """The config's model directory, or an :class:`InputError` saying how to get SmolLM2 converted."""
    path = Path(str(cfg.model.llm))
    if not (path / "config.json").is_file():
        raise InputError(
            f"model.llm={cfg.model.llm} is not a model directory; the real-weights benchmarks run on the converted "
            f"SmolLM2-135M-Instruct (`make venv` writes .cache/llm/SmolLM2-135M-Instruct)"
        )
    return path


def study_config(overrides: list[str] = (), config: Path | None = None) -> Config:
    """The study's config (or ``config``) with ``overrides``, as the benchmarks run it (:func:`timed_prompt`)."""
    return timed_prompt(load_config(config or STUDY_CONFIG, list(overrides)))


def timed_prompt(cfg: Config) -> Config:
    """``cfg`` with its prompt without the ``neighbour`` field, which the plain script has no index for."""
    fields = [f for f in cfg.model.prompt_fields if f != "neighbour"]
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"prompt_fields": fields})})


def study_rows(cfg: Config) -> tuple[list[Record], list[Record]]:
    """``(train, test)``: the study's training split and its scored test rows (``study.test_rows`` sampled)."""
    check_llm(cfg)
    sets = study_sets(
        pool=cfg.data.inputs,
        tests=cfg.study.tests,
        val_fraction=cfg.data.val_fraction,
        seed=cfg.data.split_seed,
        max_length=cfg.data.max_length,
    )
    sets = capped(sets, Limits(), sample=cfg.study.test_rows, seed=cfg.data.split_seed)
    return sets.train, [r for records in sets.tests.values() for r in records]


def all_threads() -> int:
    """The CPUs this process may run on: the threads of "one process with all threads"."""
    return len(os.sched_getaffinity(0))
