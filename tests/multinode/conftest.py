"""Several Ray nodes on one machine: ``ray.cluster_utils.Cluster`` starts real raylets (a head with no CPUs for work,
plus worker nodes with their own CPUs and, where a module asks, fake GPUs), and this process's driver joins it.

Each module sets ``NODES``, the worker nodes' ``add_node`` arguments, and gets one cluster for its tests
(fixture ``nodes``); the shared local cluster is left for the module and started again after it. All nodes share
this machine's file system, which stands in for the shared storage (NFS, EFS, a ReadWriteMany volume) that a real
cluster needs for ``train.storage_path``, the embedding store and the outputs.

Ray writes the address of a cluster it starts to ``ray_current_cluster`` in its temp dir, where every plain
``ray.init()`` on the machine looks; a private ``RAY_TMPDIR`` keeps this one out of other drivers' way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

RUNTIME_ENV = {"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}}


class Nodes:
    """The running cluster: its worker nodes, and node loss and replacement as a test injects them."""

    def __init__(self, cluster, temp: str):
        self.cluster, self.temp = cluster, temp

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def workers(self) -> list:
        return sorted(self.cluster.worker_nodes, key=lambda n: n.node_id)

    def node(self, node_id: str):
        (found,) = [n for n in self.cluster.worker_nodes if n.node_id == node_id]
        return found

    def remove(self, node) -> float:
        """Kill ``node``'s raylet and every process on it at once, as a lost machine; returns the time it went."""
        self.cluster.remove_node(node, allow_graceful=False)
        return time.monotonic()

    def add(self, **node_args):
        """A fresh worker node (``add_node`` arguments), once the cluster has registered it."""
        node = self.cluster.add_node(**node_args)
        self.cluster.wait_for_nodes()
        return node


def actor_nodes(class_name: str) -> dict[str, str]:
    """Alive actors whose class name contains ``class_name``: actor id -> node id (GCS actor table)."""
    from ray._private.state import actors

    return {
        actor_id: info["Address"]["NodeID"]
        for actor_id, info in actors().items()
        if class_name in info["ActorClassName"] and info["State"] == "ALIVE"
    }


@pytest.fixture(scope="module")
def nodes(shared_ray_paused, request) -> Iterator[Nodes]:
    import ray
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="m2t-mn-", dir="/tmp")  # short: Ray's socket paths live under it
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp
    cluster = None
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        for args in request.module.NODES:
            cluster.add_node(**args)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, runtime_env=RUNTIME_ENV)
        yield Nodes(cluster, temp)
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved
        shutil.rmtree(temp, ignore_errors=True)
