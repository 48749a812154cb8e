"""Placement on the shared 2-CPU Ray cluster (no GPU): pool and worker requests, and plans refused before they hang."""

from __future__ import annotations

import pytest

from m2t.config import load_config
from m2t.placement import PlacementError, actor_pool, encoder_pool, scorer_pool, train_workers, use_gpu


def test_pools_take_fractional_cpus_and_no_gpu(ray_cluster):
    cfg = load_config(None, ["embed.num_actors=2", "embed.cpus_per_actor=0.5", "embed.batch_sequences=7"])
    pool = encoder_pool(cfg)
    assert (pool["compute"].min_size, pool["compute"].max_size) == (2, 2)
    assert (pool["num_gpus"], pool["num_cpus"], pool["batch_size"]) == (0, 0.5, 7)
    scorer = scorer_pool(cfg)
    assert (scorer["num_cpus"], scorer["batch_size"], scorer["batch_format"]) == (1.0, None, "pyarrow")


def test_a_pool_that_leaves_ray_data_no_cpu_is_refused_with_the_fix(ray_cluster):
    with pytest.raises(
        PlacementError,
        match=r"embed.num_actors × embed.cpus_per_actor = 2 × 1.0 CPUs leaves under "
        r"half a CPU of this 2-CPU cluster .* at most 1.5, e.g. embed.num_actors=2 "
        r"embed.cpus_per_actor=0.75",
    ):
        actor_pool(num_actors=2, cpus_per_actor=1.0, section="embed")
    actor_pool(num_actors=2, cpus_per_actor=0.75, section="embed")  # exactly the room left: accepted


def test_training_workers_and_stream_pools_share_the_cpus(ray_cluster):
    cfg = load_config(None, ["train.num_workers=2", "train.cpus_per_worker=0.5", "embed.cpus_per_actor=0.5"])
    assert train_workers(cfg) == {"num_workers": 2, "use_gpu": False, "resources_per_worker": {"CPU": 0.5}}
    with pytest.raises(PlacementError, match=r"2 encoder pool\(s\) .* = 2 CPUs leaves under half a CPU"):
        train_workers(cfg, encoder_pools=2)
    train_workers(cfg, encoder_pools=1)  # 1 + 0.5 of 2 CPUs: half a CPU left


def test_use_gpu_settings(ray_cluster):
    assert (use_gpu(True), use_gpu(False), use_gpu("auto")) == (True, False, False)  # auto: this cluster has no GPU
    assert load_config(None, ["train.use_gpu=true"]).train.use_gpu is True  # one type in every section
    assert load_config(None, ["serve.use_gpu=false"]).serve.use_gpu is False
