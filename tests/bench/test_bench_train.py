"""The train benchmark at a tiny size: both steps run on the same records; padding and counts as designed."""

from __future__ import annotations

import deepspeed
import pytest
import torch
from bench_checks import check_result

from m2t.bench.inputs import benchmark_records
from m2t.bench.machine import ray_worker_threads
from m2t.bench.scales import SCALES
from m2t.bench.train import interleave, run_train, single_process_group
from m2t.config import load_config


def test_interleave_spreads_the_baseline_among_ours():
    assert interleave(4, 2) == ["ours", "ours", "baseline", "ours", "ours", "baseline"]
    assert interleave(3, 2).count("ours") == 3 and interleave(3, 2).count("baseline") == 2


def test_deepspeed_engines_in_consecutive_process_groups_of_one_process():
    """A second group in the same process (the train benchmark, then the real-width test) must not meet the
    first group's subgroups that DeepSpeed cached ("Group ... is not registered")."""
    config = {"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 2}}
    config["optimizer"] = {"type": "AdamW", "params": {"lr": 1e-3, "torch_adam": True}}
    for _ in range(2):
        with single_process_group():
            model = torch.nn.Linear(4, 4)
            engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
            engine.destroy()


@pytest.mark.slow
def test_train_step_benchmark(tmp_path):
    scale = SCALES["tiny"]
    cfg = load_config(None, ["train.pretrain.micro_batch_size=2"])
    records = benchmark_records(wild_types=3, length_scale=0.1, seed=1)
    r, *prefetched = run_train(cfg, scale, workdir=tmp_path, records=records)
    check_result(r)
    assert [p["benchmark"] for p in prefetched] == ["train_prefetch", "train_prefetch_s3"]  # moto: a dev dependency
    for p in prefetched:
        check_result(p)
        assert p["inputs"]["prefetch_batches"] == 2 and 0 < p["baseline"]["making_share"] < 1
        assert p["ours"]["samples"] == p["baseline"]["samples"] == 2 * scale.train_steps
    ours, base = r["ours"], r["baseline"]
    assert (ours["steps"], ours["samples"]) == (scale.train_steps, 2 * scale.train_steps)
    assert (base["steps"], base["samples"]) == (scale.baseline_train_steps, 2 * scale.baseline_train_steps)
    assert base["padded_tokens_per_step"] == 2 * scale.train_pad_to
    assert ours["padded_tokens_per_step"] < base["padded_tokens_per_step"]  # dynamic padding
    assert ours["tokens_per_s"] > 0 and ours["flops_per_step"] > 0 and 0 < ours["share_of_peak"]
    assert r["inputs"]["zero_stage"] == 2 and r["inputs"]["micro_batch_size"] == 2
    assert r["inputs"]["torch_threads"] == 1 and r["machine"]["torch_threads"] == 1  # a 0.5-CPU Ray Train worker's


def test_ray_worker_threads():
    assert [ray_worker_threads(c) for c in (0.25, 1.0, 1.5, 4.0)] == [1, 1, 1, 4]
