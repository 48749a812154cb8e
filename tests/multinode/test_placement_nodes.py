"""Plans that fit the cluster's totals but not its nodes are refused before they start, never left to hang.

Two worker nodes of 2 CPUs and 2 fake GPUs each (``add_node(num_gpus=2)`` gives Ray a GPU resource, not a device:
nothing here calls CUDA; what is tested is the placement decision and Ray's own placement of the same requests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import ray
from ray.util.placement_group import placement_group, remove_placement_group

from m2t.config import REPO_ROOT, load_config
from m2t.placement import STREAM_ENCODER_GPU, PlacementError, encoder_pool, train_workers
from m2t.train.trainer import run_stage

pytestmark = pytest.mark.timeout(300)
NODES = [{"num_cpus": 2, "num_gpus": 2}, {"num_cpus": 2, "num_gpus": 2}]


@ray.remote
class Probe:
    def ready(self) -> bool:
        return True


def placed(workers: list[dict], actors: list[dict], *, wait_s: float) -> bool:
    """Whether Ray places a PACK placement group of ``workers`` bundles and then ``actors`` within ``wait_s``."""
    group = placement_group(workers, strategy="PACK")
    started = []
    try:
        ray.get(group.ready(), timeout=wait_s)
        started = [Probe.options(num_cpus=a["CPU"], num_gpus=a.get("GPU", 0)).remote() for a in actors]
        ray.get([p.ready.remote() for p in started], timeout=wait_s)
        return True
    except ray.exceptions.GetTimeoutError:
        return False
    finally:
        for p in started:
            ray.kill(p)
        remove_placement_group(group)


@contextmanager
def autoscaler_may_add(resources: dict[str, float]):
    """Publish, as an autoscaler does in the GCS, a node group that can add one node of ``resources``."""
    from ray._raylet import GCS_AUTOSCALER_CLUSTER_CONFIG_KEY as KEY
    from ray._raylet import GCS_AUTOSCALER_STATE_NAMESPACE as NAMESPACE
    from ray.core.generated.autoscaler_pb2 import ClusterConfig, NodeGroupConfig
    from ray.experimental.internal_kv import _internal_kv_del, _internal_kv_put

    group = NodeGroupConfig(name="scaled", resources=resources, min_count=0, max_count=1)
    _internal_kv_put(KEY, ClusterConfig(node_group_configs=[group]).SerializeToString(), namespace=NAMESPACE)
    try:
        yield
    finally:
        _internal_kv_del(KEY, namespace=NAMESPACE)


def test_training_that_leaves_no_node_a_whole_cpu_exits_4_before_any_work(nodes, tmp_path):
    """2 workers × 1.5 CPUs: 1 CPU free in all (the old check on totals passed), half a CPU on each node, and Ray
    Data's read tasks ask for a whole one: stage 1 wrote no step in 11 minutes. Now the job stops at once."""
    overrides = ["train.use_gpu=false", "train.num_workers=2", "train.cpus_per_worker=1.5", f"output.root={tmp_path}"]
    with pytest.raises(PlacementError, match=r"2 × 1.5 CPUs: placed as Ray places them .* leave no node the whole CPU"):
        train_workers(load_config(None, overrides))
    fits = load_config(None, [*overrides, "train.cpus_per_worker=1"])  # packed on one node; the other keeps 2 CPUs
    assert train_workers(fits)["resources_per_worker"] == {"CPU": 1.0}
    with autoscaler_may_add({"CPU": 4}):  # a node that an autoscaler could still add: Ray would wait, not hang
        assert train_workers(load_config(None, overrides))["resources_per_worker"] == {"CPU": 1.5}
    started = time.monotonic()
    job = subprocess.run(
        [sys.executable, "jobs/pretrain.py", *overrides],
        cwd=REPO_ROOT,
        env={**os.environ, "RAY_ADDRESS": nodes.address},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert job.returncode == 4, job.stderr[-3000:]
    assert "leave no node the whole CPU that each of Ray Data's read tasks asks for" in job.stderr
    assert "e.g. train.cpus_per_worker=1" in job.stderr
    assert not (tmp_path / "data").exists()  # refused before preparing anything
    print(f"refused in {time.monotonic() - started:.0f} s")


def test_stream_mode_shares_each_gpu_between_a_worker_and_an_encoder(nodes, tmp_path):
    """4 training workers on the 4 GPUs and stream mode's 2 encoder pools: with a whole GPU each the encoders could
    never start (Ray leaves them pending: training would wait for data forever); with 0.75 + 0.25 Ray places all."""
    cfg = load_config(
        None,
        [
            "embed.mode=stream",
            "train.use_gpu=true",
            "train.num_workers=4",
            "train.cpus_per_worker=0.25",
            "embed.num_actors=1",
            "embed.cpus_per_actor=0.25",
            f"output.root={tmp_path}",
        ],
    )
    workers = train_workers(cfg, encoder_pools=2)
    assert workers == {"num_workers": 4, "use_gpu": True, "resources_per_worker": {"CPU": 0.25, "GPU": 0.75}}
    pool = encoder_pool(cfg, beside_training=True)
    assert pool["num_gpus"] == STREAM_ENCODER_GPU and pool["compute"].min_size == 1
    encoder = {"CPU": pool["num_cpus"], "GPU": pool["num_gpus"]}
    assert placed([workers["resources_per_worker"]] * 4, [encoder] * 2, wait_s=30)
    assert not placed([{"CPU": 0.25, "GPU": 1}] * 4, [{"CPU": 0.25, "GPU": 1}], wait_s=5)  # whole GPUs: it would hang

    crowded = cfg.model_copy(update={"embed": cfg.embed.model_copy(update={"num_actors": 3})})  # 6 shares, 4 GPUs
    with pytest.raises(PlacementError, match=r"2 encoder pool\(s\) × 3 actors of 0.25 CPUs \+ 0.25 GPU do not fit"):
        run_stage(crowded, stage="pretrain")
    assert not (tmp_path / "data").exists()  # refused before preparing anything
