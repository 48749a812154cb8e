"""Where work runs on the Ray cluster: the GPU/CPU requests of every pool, and refusing a plan that cannot run.

Every job asks Ray for resources through this module: the training workers (``train.*``), the encoder
actors (``embed.*``), the scorer actors (``batch_score.*``) and the Serve replicas (``serve.*``). A plan
that would hang instead of run (an actor pool that leaves Ray Data's own read and write tasks no CPU)
is refused before anything starts, with a :class:`PlacementError` (exit code 4) that says what to lower.

Only the jobs start or join Ray (``ray.init`` in ``jobs/*.py``); these functions read the running cluster.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import ray

from m2t.config import Config, ServeConfig
from m2t.errors import M2TError

log = logging.getLogger(__name__)

# CPUs that must stay free beside the long-lived actors and workers, for Ray Data's own read/map/write tasks.
DATA_HEADROOM_CPUS = 0.5


class PlacementError(M2TError):
    """The Ray cluster cannot place what the config asks for (exit code 4); the message says what to lower."""


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


def check_cpu_headroom(*, need: float, what: str, fix: str) -> None:
    """Refuse a plan whose long-lived actors and workers take ``need`` CPUs and leave Ray Data under
    :data:`DATA_HEADROOM_CPUS` (it would hang); ``what`` spells the sum (``... = N CPUs``), ``fix`` what to lower."""
    cpus = float(cluster_resources().get("CPU", 0))
    if need > cpus - DATA_HEADROOM_CPUS:
        raise PlacementError(
            f"{what} leaves under half a CPU of this {cpus:g}-CPU cluster for Ray Data's own tasks "
            f"(it would hang); {fix}"
        )


def actor_pool(*, num_actors: int, cpus_per_actor: float, section: str) -> dict[str, Any]:
    """``map_batches`` keyword arguments (``compute``, ``num_gpus``, ``num_cpus``) of an actor pool.

    One GPU per actor when the cluster has GPUs (at most one actor per GPU); otherwise fractional CPUs,
    refused by :func:`check_cpu_headroom` when they leave Ray Data no room. ``section`` names the config
    section the two settings come from (``embed``, ``batch_score``).
    """
    from ray.data import ActorPoolStrategy

    resources = cluster_resources()
    gpus = int(resources.get("GPU", 0))
    size, num_gpus = num_actors, 0
    if gpus:
        num_gpus = 1
        if size > gpus:
            log.warning("%s.num_actors=%d but the cluster has %d GPUs: using %d actors", section, size, gpus, gpus)
            size = gpus
    else:
        room = max(float(resources.get("CPU", 0)) - DATA_HEADROOM_CPUS, 0.25)
        check_cpu_headroom(
            need=size * cpus_per_actor,
            what=f"{section}.num_actors × {section}.cpus_per_actor = {size} × {cpus_per_actor} CPUs",
            fix=f"lower them so their product is at most {room:g}, e.g. {section}.num_actors={size} "
            f"{section}.cpus_per_actor={room / size:.2g}",
        )
    return {"compute": ActorPoolStrategy(size=size), "num_gpus": num_gpus, "num_cpus": cpus_per_actor}


def encoder_pool(cfg: Config) -> dict[str, Any]:
    """``map_batches`` arguments of the encoder actors (``embed.num_actors``, ``embed.cpus_per_actor``), one batch
    of ``embed.batch_sequences`` sequences per call."""
    pool = actor_pool(num_actors=cfg.embed.num_actors, cpus_per_actor=cfg.embed.cpus_per_actor, section="embed")
    return {**pool, "batch_size": cfg.embed.batch_sequences}


def scorer_pool(cfg: Config) -> dict[str, Any]:
    """``map_batches`` arguments of the scorer actors (``batch_score.num_actors``, ``batch_score.cpus_per_actor``),
    one pre-cut Arrow block per call."""
    pool = actor_pool(
        num_actors=cfg.batch_score.num_actors, cpus_per_actor=cfg.batch_score.cpus_per_actor, section="batch_score"
    )
    return {**pool, "batch_size": None, "batch_format": "pyarrow"}


def train_workers(cfg: Config, *, encoder_pools: int = 0) -> dict[str, Any]:
    """``ScalingConfig`` arguments of the training workers (``train.*``): one GPU each when ``train.use_gpu``
    resolves true, else ``train.cpus_per_worker`` CPUs. ``encoder_pools``: encoder actor pools that run beside them
    (stream mode: one per split); without GPUs, workers and pools together must leave Ray Data its headroom."""
    gpus = use_gpu(cfg.train.use_gpu)
    if encoder_pools and not gpus:
        t, e = cfg.train, cfg.embed
        need = t.num_workers * t.cpus_per_worker + encoder_pools * e.num_actors * e.cpus_per_actor
        check_cpu_headroom(
            need=need,
            what=f"embed.mode=stream: train.num_workers × train.cpus_per_worker ({t.num_workers} × "
            f"{t.cpus_per_worker:g}) + {encoder_pools} encoder pool(s) × embed.num_actors × "
            f"embed.cpus_per_actor ({e.num_actors} × {e.cpus_per_actor:g}) = {need:g} CPUs",
            fix="lower them (e.g. train.cpus_per_worker=0.25 embed.cpus_per_actor=0.25) or use embed.mode=store",
        )
    return {
        "num_workers": cfg.train.num_workers,
        "use_gpu": gpus,
        "resources_per_worker": {"CPU": cfg.train.cpus_per_worker},
    }


def replica_resources(serve_cfg: ServeConfig) -> dict[str, Any]:
    """``ray_actor_options`` of a Serve replica: one GPU when ``serve.use_gpu`` resolves true, and
    ``serve.cpus_per_replica`` CPUs."""
    return {**({"num_gpus": 1} if use_gpu(serve_cfg.use_gpu) else {}), "num_cpus": serve_cfg.cpus_per_replica}
