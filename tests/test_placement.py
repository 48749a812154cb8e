"""Placement on the shared 2-CPU Ray cluster (one node, no GPU): pool and worker requests, and plans refused before
they hang. The node-by-node rules on several nodes and on (fake) GPUs are in tests/multinode/test_placement_nodes.py."""

from __future__ import annotations

import pytest

from m2t.config import load_config
from m2t.errors import PlacementError
from m2t.packing import Bundle, Node, place
from m2t.placement import actor_pool, encoder_pool, scorer_pool, train_workers, use_gpu


def test_pools_take_fractional_cpus_and_no_gpu(ray_cluster):
    cfg = load_config(None, ["embed.num_actors=2", "embed.cpus_per_actor=0.5", "embed.batch_sequences=7"])
    pool = encoder_pool(cfg)
    assert (pool["compute"].min_size, pool["compute"].max_size) == (2, 2)
    assert (pool["num_gpus"], pool["num_cpus"], pool["batch_size"]) == (0, 0.5, 7)
    scorer = scorer_pool(cfg)
    assert (scorer["num_cpus"], scorer["batch_size"], scorer["batch_format"]) == (1.0, None, "pyarrow")


def test_a_pool_that_does_not_fit_the_node_is_refused_with_the_fix(ray_cluster):
    with pytest.raises(
        PlacementError,
        match=r"embed.num_actors × embed.cpus_per_actor = 3 × 1 CPUs: 3 embed actors of 1 CPUs do not fit on this "
        r"cluster's nodes .* e.g. embed.num_actors=3 embed.cpus_per_actor=0.5",
    ):
        actor_pool(num_actors=3, cpus_per_actor=1.0, section="embed")
    # An actor-only pipeline runs no Ray Data task: its actors may take every CPU.
    actor_pool(num_actors=2, cpus_per_actor=1.0, section="embed")


def test_training_leaves_a_whole_cpu_for_ray_datas_read_tasks(ray_cluster):
    cfg = load_config(None, ["train.num_workers=2", "train.cpus_per_worker=0.5", "embed.cpus_per_actor=0.25"])
    assert train_workers(cfg) == {"num_workers": 2, "use_gpu": False, "resources_per_worker": {"CPU": 0.5}}
    # 2 × 0.5 + 2 pools × 0.25 of 2 CPUs leave half a CPU: read_parquet's 1-CPU tasks would wait forever
    with pytest.raises(PlacementError, match=r"leave no node the whole CPU .* e.g. train.cpus_per_worker=0.25"):
        train_workers(cfg, encoder_pools=2)
    narrow = load_config(None, ["train.num_workers=2", "train.cpus_per_worker=0.25", "embed.cpus_per_actor=0.25"])
    assert train_workers(narrow, encoder_pools=2)["num_workers"] == 2  # 0.5 + 0.5: a whole CPU left
    wide = load_config(None, ["train.num_workers=2", "train.cpus_per_worker=0.75"])
    with pytest.raises(PlacementError, match=r"2 × 0.75 CPUs: placed as Ray places them .* train.cpus_per_worker=0.5"):
        train_workers(wide)


def test_use_gpu_settings(ray_cluster):
    assert (use_gpu(True), use_gpu(False), use_gpu("auto")) == (True, False, False)  # auto: this cluster has no GPU
    assert load_config(None, ["train.use_gpu=true"]).train.use_gpu is True  # one type in every section
    assert load_config(None, ["serve.use_gpu=false"]).serve.use_gpu is False


def test_packing_follows_ray():
    """PACK keeps a placement group on one node when it fits; actors spread; GPU shares fill one GPU at a time."""
    nodes = [Node("a", 2.0), Node("b", 2.0)]
    assert [n.node_id for n in place(nodes, [Bundle(1.0)] * 2, pack=True)] == ["a", "a"]
    assert [n.cpus for n in nodes] == [0.0, 2.0]
    nodes = [Node("a", 2.0), Node("b", 2.0)]
    assert [n.node_id for n in place(nodes, [Bundle(1.5)] * 2, pack=True)] == ["a", "b"]
    assert place(nodes, [Bundle(1.0)], pack=False) is None  # half a CPU on each node: a 1-CPU task fits nowhere
    gpus = [Node("g", 8.0, [1.0, 1.0])]
    assert place(gpus, [Bundle(1.0, 0.75)] * 2, pack=True) is not None and gpus[0].gpus == [0.25, 0.25]
    assert place(gpus, [Bundle(0.5, 0.25)] * 2, pack=False) is not None and gpus[0].gpus == [0.0, 0.0]
    assert place([Node("g", 8.0, [1.0, 1.0])], [Bundle(1.0, 0.75)] * 3, pack=True) is None  # never 2 on one GPU
