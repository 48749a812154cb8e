"""How Ray will place a plan's long-lived workers and actors on the cluster's nodes, worked out before anything starts.

Ray puts each resource request (a *bundle*: CPUs, and a GPU or a fraction of one) on a single node, so a plan that
fits the cluster's totals may still fit none of its nodes: two 1.5-CPU workers on two 2-CPU nodes leave one CPU in
all but half a CPU on each node. :func:`place` follows Ray's choices closely enough to refuse what can never run:

- a placement group with the PACK strategy (Ray Train's default for its workers) goes on one node when it fits
  there, else on as few nodes as it can;
- actors go one by one to the node with the most room left (Ray's default policy spreads them once nodes are half
  busy);
- fractions of a GPU are taken from one GPU at a time, first fit, as Ray hands out GPU instances.

The nodes are the alive nodes' total resources (``ray.nodes()``), not what is free right now, plus the nodes an
autoscaler may still add: the check refuses plans this cluster can never place (a hang), not plans that wait for
another job to finish or for the autoscaler (a queue).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import ray

EPS = 1e-9


@dataclass(frozen=True)
class Bundle:
    """One worker's or actor's request: ``cpus`` and ``gpus`` (a fraction of one GPU, or whole GPUs)."""

    cpus: float
    gpus: float = 0.0


@dataclass(eq=False)  # nodes are told apart by identity
class Node:
    """What is left on one node: CPUs and the free share of each of its GPUs."""

    node_id: str
    cpus: float
    gpus: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        gpus = f" + {sum(self.gpus):g} GPUs" if self.gpus else ""
        name = self.node_id[:8] if len(self.node_id) > 40 else self.node_id  # a Ray node id, or an autoscaler's
        return f"{name} {self.cpus:g} CPUs{gpus}"

    def room(self) -> tuple[float, float]:
        return sum(self.gpus), self.cpus

    def slots(self, bundle: Bundle) -> list[int] | None:
        """The GPUs ``bundle`` would take here (``[]``: none asked), or None when it does not fit."""
        if self.cpus + EPS < bundle.cpus:
            return None
        if bundle.gpus <= 0:
            return []
        if bundle.gpus >= 1:  # whole GPUs
            free = [i for i, share in enumerate(self.gpus) if share >= 1 - EPS]
            return free[: int(bundle.gpus)] if len(free) >= bundle.gpus else None
        fits = [i for i, share in enumerate(self.gpus) if share + EPS >= bundle.gpus]
        return fits[:1] or None

    def take(self, bundle: Bundle, gpus: list[int]) -> None:
        self.cpus -= bundle.cpus
        for i in gpus:
            self.gpus[i] -= min(bundle.gpus, 1.0)


def _node(node_id: str, resources) -> Node:
    return Node(node_id, float(resources.get("CPU", 0)), [1.0] * int(resources.get("GPU", 0)))


def autoscaler_nodes() -> list[Node]:
    """Nodes an autoscaler may still add: each node group that can grow, ``max_count - min_count`` times (16 when
    unbounded), from the cluster config the autoscaler publishes in the GCS (what Ray Data's own autoscaling reads).
    A plan that fits only once they come is not refused. None on a cluster without an autoscaler."""
    from ray._private.state import state

    config = state.get_cluster_config()
    if config is None:
        return []
    added = []
    for group in config.node_group_configs:
        if not group.resources or group.max_count == 0 or 0 <= group.max_count <= group.min_count:
            continue
        count = 16 if group.max_count < 0 else group.max_count - group.min_count
        added += [_node(f"{group.name}+{i}", group.resources) for i in range(count)]
    return added


def cluster_nodes() -> list[Node]:
    """The alive nodes of the running cluster with their total CPUs and GPUs, plus those an autoscaler may add."""
    alive = [_node(node["NodeID"], node["Resources"]) for node in ray.nodes() if node["Alive"]]
    return alive + autoscaler_nodes()


def _put(bundle: Bundle, order: list[Node]) -> Node | None:
    """Take ``bundle`` from the first node of ``order`` that holds it; that node, or None."""
    for node in order:
        gpus = node.slots(bundle)
        if gpus is not None:
            node.take(bundle, gpus)
            return node
    return None


def place(nodes: list[Node], bundles: list[Bundle], *, pack: bool) -> list[Node] | None:
    """Place ``bundles`` on ``nodes`` (which lose what they give): a PACK placement group (``pack``) or actors one by
    one. Returns the node of each bundle, or None when one of them fits nowhere (``nodes`` then hold a part)."""
    if pack:
        for node in sorted(nodes, key=Node.room, reverse=True):  # the whole group on one node, when it fits
            trial = copy.deepcopy(node)
            if all(_put(b, [trial]) for b in bundles):
                return [_put(b, [node]) for b in bundles]
    landed: list[Node] = []
    for bundle in bundles:
        by_room = sorted(nodes, key=Node.room, reverse=True)
        order = [*landed, *(n for n in by_room if n not in landed)] if pack else by_room
        node = _put(bundle, order)
        if node is None:
            return None
        landed.append(node)
    return landed
