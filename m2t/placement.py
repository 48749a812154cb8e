"""Where work runs on the Ray cluster: the GPU/CPU requests of every pool, and refusing a plan that cannot run.

Every job asks Ray for resources through this module: the training workers (``train.*``), the encoder
actors (``embed.*``), the scorer actors (``batch_score.*``) and the Serve replicas (``serve.*``). A plan
that would wait forever instead of run is refused before anything starts, with a :class:`PlacementError`
(exit code 4) that says what to lower. Plans are checked node by node, the way Ray places them
(:mod:`m2t.packing`): a worker or actor never spans nodes, and Ray Data's tasks need a whole CPU on one node.

Only the jobs start or join Ray (``ray.init`` in ``jobs/*.py``); these functions read the running cluster.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Literal

import ray

from m2t.config import Config, ServeConfig
from m2t.errors import PlacementError
from m2t.packing import EPS, Bundle, cluster_nodes, place

log = logging.getLogger(__name__)

# Ray Data gives each read or map *task* one CPU unless told otherwise (ray.data's
# map_operator._canonicalize_ray_remote_args), and read_parquet runs two such stages (ListFiles, ReadFiles).
# Training reads its splits with read_parquet, so beside its workers (and stream mode's encoder actors) one node
# must keep a whole CPU free, or the read waits forever without a message (seen on 2 nodes × 2 CPUs with
# 2 workers × 1.5 CPUs: half a CPU free on each node, stage 1 wrote no step in 11 minutes). The embedding and
# scoring jobs feed their actor pools from memory (from_items, from_arrow): no task runs, so their actors may take
# every CPU (checked: 2 × 1-CPU encoder actors on a 2-CPU node finish), but each actor must fit on one node.
RAY_DATA_TASK_CPUS = 1.0

# embed.mode=stream with training on GPUs: each encoder actor asks for this share of a GPU and each training worker
# for the rest, so one encoder actor sits beside a worker on its GPU. Ray hands out GPU fractions one GPU at a time,
# and two workers' shares (0.75 + 0.75) never fit one GPU, so workers never share. With one whole GPU each,
# 8 workers on an 8-GPU node would leave the encoders none, and training would wait forever for its data.
STREAM_ENCODER_GPU = 0.25


def cluster_resources() -> dict[str, float]:
    """The running cluster's total resources (``CPU``, ``GPU``, custom ones)."""
    if not ray.is_initialized():
        raise PlacementError(
            "Ray is not running in this process; the jobs start or join it (ray.init) before placing work"
        )
    return ray.cluster_resources()


def use_gpu(setting: Literal["auto"] | bool) -> bool:
    """A ``use_gpu`` setting resolved: ``auto`` = the Ray cluster has GPUs (before Ray starts: this machine has one)."""
    if setting != "auto":
        return bool(setting)
    if ray.is_initialized():
        return cluster_resources().get("GPU", 0) > 0
    import torch

    return torch.cuda.is_available()


Groups = list[tuple[str, list[Bundle], bool]]  # (what, bundles, placed as one PACK placement group)


def why_unplaceable(groups: Groups, *, tasks: bool) -> str | None:
    """Why the cluster's nodes cannot hold ``groups`` (and, with ``tasks``, still a whole CPU on one node for Ray
    Data's tasks), or None when they can."""
    cluster_resources()
    nodes = cluster_nodes()
    sizes = ", ".join(map(str, nodes))
    for what, bundles, pack in groups:
        if bundles and place(nodes, bundles, pack=pack) is None:
            return f"{what} do not fit on this cluster's nodes ({sizes}; each one must fit on a single node)"
    if tasks and not any(node.cpus + EPS >= RAY_DATA_TASK_CPUS for node in nodes):
        left = ", ".join(map(str, nodes))
        return (
            f"placed as Ray places them on this cluster's nodes ({sizes}), they leave no node the whole CPU that "
            f"each of Ray Data's read tasks asks for (left: {left})"
        )
    return None


def _largest(fits: Callable[[float], bool], start: float) -> float | None:
    """The largest quarter-CPU value below ``start`` for which ``fits``, or None."""
    return next((q / 4 for q in range(math.ceil(start * 4) - 1, 0, -1) if fits(q / 4)), None)


def _ask(cpus: float, gpus: float) -> str:
    return f"{cpus:g} CPUs" + (f" + {gpus:g} GPU" if gpus else "")


def actor_pool(
    *, num_actors: int, cpus_per_actor: float, section: str, gpus_per_actor: float | None = None
) -> dict[str, Any]:
    """``map_batches`` keyword arguments (``compute``, ``num_gpus``, ``num_cpus``) of an actor pool.

    One GPU per actor when the cluster has GPUs (at most one actor per GPU), or ``gpus_per_actor`` when given;
    plus ``cpus_per_actor`` CPUs. Refused when an actor fits on no node. ``section`` names the config section
    the settings come from (``embed``, ``batch_score``).
    """
    from ray.data import ActorPoolStrategy

    gpus = int(cluster_resources().get("GPU", 0))
    size, num_gpus = num_actors, 0.0
    if gpus_per_actor is not None:
        num_gpus = gpus_per_actor
    elif gpus:
        num_gpus = 1
        if size > gpus:
            log.warning("%s.num_actors=%d but the cluster has %d GPUs: using %d actors", section, size, gpus, gpus)
            size = gpus

    def groups(cpus: float) -> Groups:
        return [(f"{size} {section} actors of {_ask(cpus, num_gpus)}", [Bundle(cpus, num_gpus)] * size, False)]

    reason = why_unplaceable(groups(cpus_per_actor), tasks=False)
    if reason:
        fit = _largest(lambda c: why_unplaceable(groups(c), tasks=False) is None, cpus_per_actor)
        raise PlacementError(
            f"{section}.num_actors × {section}.cpus_per_actor = {size} × {cpus_per_actor:g} CPUs: {reason}, so the "
            f"job would wait forever; lower them"
            + (f", e.g. {section}.num_actors={size} {section}.cpus_per_actor={fit:g}" if fit else "")
        )
    return {"compute": ActorPoolStrategy(size=size), "num_gpus": num_gpus, "num_cpus": cpus_per_actor}


def encoder_pool(cfg: Config, *, beside_training: bool = False) -> dict[str, Any]:
    """``map_batches`` arguments of the encoder actors (``embed.num_actors``, ``embed.cpus_per_actor``), one batch
    of ``embed.batch_sequences`` sequences per call. ``beside_training`` (stream mode): with training on GPUs,
    each actor takes :data:`STREAM_ENCODER_GPU` of a GPU, beside a training worker."""
    share = None
    if beside_training and use_gpu(cfg.train.use_gpu) and cluster_resources().get("GPU", 0) > 0:
        share = STREAM_ENCODER_GPU
    pool = actor_pool(
        num_actors=cfg.embed.num_actors, cpus_per_actor=cfg.embed.cpus_per_actor, section="embed", gpus_per_actor=share
    )
    return {**pool, "batch_size": cfg.embed.batch_sequences}


def scorer_pool(cfg: Config) -> dict[str, Any]:
    """``map_batches`` arguments of the scorer actors (``batch_score.num_actors``, ``batch_score.cpus_per_actor``),
    one pre-cut Arrow block per call."""
    pool = actor_pool(
        num_actors=cfg.batch_score.num_actors, cpus_per_actor=cfg.batch_score.cpus_per_actor, section="batch_score"
    )
    return {**pool, "batch_size": None, "batch_format": "pyarrow"}


def train_workers(cfg: Config, *, encoder_pools: int = 0) -> dict[str, Any]:
    """``ScalingConfig`` arguments of the training workers (``train.*``): one GPU each when ``train.use_gpu`` resolves
    true (1 - :data:`STREAM_ENCODER_GPU` beside stream mode's encoders), plus ``train.cpus_per_worker`` CPUs.
    ``encoder_pools``: encoder actor pools that run beside them (stream mode: one per split). Refused unless the
    workers (Ray Train's PACK placement group), the pools and one Ray Data task fit the cluster's nodes."""
    t, e = cfg.train, cfg.embed
    gpus = use_gpu(t.use_gpu)
    worker_gpu = (1 - STREAM_ENCODER_GPU if encoder_pools else 1.0) if gpus else 0.0
    encoders = encoder_pool(cfg, beside_training=True) if encoder_pools else None

    def groups(cpus: float) -> Groups:
        out = [
            (
                f"{t.num_workers} training workers of {_ask(cpus, worker_gpu)}",
                [Bundle(cpus, worker_gpu)] * t.num_workers,
                True,
            )
        ]
        if encoders is not None:
            n, ask = encoders["compute"].min_size, Bundle(encoders["num_cpus"], encoders["num_gpus"])
            out.append(
                (
                    f"{encoder_pools} encoder pool(s) × {n} actors of {_ask(ask.cpus, ask.gpus)}",
                    [ask] * (n * encoder_pools),
                    False,
                )
            )
        return out

    reason = why_unplaceable(groups(t.cpus_per_worker), tasks=True)
    if reason:
        fit = _largest(lambda c: why_unplaceable(groups(c), tasks=True) is None, t.cpus_per_worker)
        stream = (
            f"embed.mode=stream: {encoder_pools} encoder pool(s) of embed.num_actors={e.num_actors} × "
            f"embed.cpus_per_actor={e.cpus_per_actor:g} beside them; "
            if encoder_pools
            else ""
        )
        raise PlacementError(
            f"{stream}train.num_workers × train.cpus_per_worker = {t.num_workers} × {t.cpus_per_worker:g} CPUs"
            f"{' + a GPU share each' if gpus else ''}: {reason}, so training would wait forever; "
            + (f"lower train.cpus_per_worker, e.g. train.cpus_per_worker={fit:g}" if fit else "lower train.num_workers")
            + (" (or embed.num_actors / embed.cpus_per_actor, or use embed.mode=store)" if encoder_pools else "")
        )
    resources = {"CPU": t.cpus_per_worker, **({"GPU": worker_gpu} if gpus and worker_gpu != 1 else {})}
    return {"num_workers": t.num_workers, "use_gpu": gpus, "resources_per_worker": resources}


def replica_resources(serve_cfg: ServeConfig) -> dict[str, Any]:
    """``ray_actor_options`` of a Serve replica: one GPU when ``serve.use_gpu`` resolves true, and
    ``serve.cpus_per_replica`` CPUs."""
    return {**({"num_gpus": 1} if use_gpu(serve_cfg.use_gpu) else {}), "num_cpus": serve_cfg.cpus_per_replica}
