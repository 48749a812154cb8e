"""The Ray Data side of batch scoring: the scorer actor and the actor-pool options it runs with."""

from __future__ import annotations

import logging

import pyarrow as pa
import ray
from ray.data import ActorPoolStrategy

from m2t.config import Config
from m2t.errors import M2TError

log = logging.getLogger(__name__)


def pool_options(cfg: Config) -> dict:
    """``map_batches`` keyword arguments for the scorer pool on the current Ray cluster.

    One GPU per actor when the cluster has GPUs (at most one actor per GPU); otherwise fractional
    CPUs, refusing a pool that leaves Ray Data's own read/write tasks under half a CPU (they would hang).
    """
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    bs = cfg.batch_score
    size, num_gpus = bs.num_actors, 0
    if gpus:
        num_gpus = 1
        if size > gpus:
            log.warning("batch_score.num_actors=%d but the cluster has %d GPUs: using %d actors", size, gpus, gpus)
            size = gpus
    elif size * bs.cpus_per_actor > cpus - 0.5:
        room = max(cpus - 0.5, 0.25)
        raise M2TError(f"batch_score.num_actors × batch_score.cpus_per_actor = {size} × {bs.cpus_per_actor} CPUs leaves "
                       f"under half a CPU of this {cpus:g}-CPU cluster for Ray Data's own tasks (it would hang); lower "
                       f"them so their product is at most {room:g}, e.g. batch_score.cpus_per_actor={room / size:.2g}")
    return {"compute": ActorPoolStrategy(size=size), "num_gpus": num_gpus, "num_cpus": bs.cpus_per_actor,
            "batch_size": None, "batch_format": "pyarrow"}


class ScorerActor:
    """Loads the checkpoint and encoder once in ``__init__``; ``__call__`` describes one batch of rows.

    In: ``id``, ``wild_type_id``, ``wild_type``, ``mutant``, ``mutations``. Out: ``id``, ``wild_type_id``,
    ``mutations``, ``description``, plus ``encoded_wild_types`` / ``encoded_mutants``: how many sequences
    this batch sent through the encoder (on its first row; 0 elsewhere), which the driver adds up.
    """

    def __init__(self, *, checkpoint: str, cfg: Config) -> None:
        from m2t.infer.describer import Describer

        self.describer = Describer(checkpoint=checkpoint, cfg=cfg, wt_cache_size=cfg.batch_score.wt_cache_size)

    def __call__(self, batch: pa.Table) -> pa.Table:
        d = self.describer
        wts, muts = batch.column("wild_type").to_pylist(), batch.column("mutant").to_pylist()
        before = d.encoded_wild_types, d.encoded_mutants
        texts = d.describe(list(zip(wts, muts, strict=True)))
        counts = d.encoded_wild_types - before[0], d.encoded_mutants - before[1]
        zeros = [0] * (len(texts) - 1)
        return pa.table({
            "id": batch.column("id"), "wild_type_id": batch.column("wild_type_id"),
            "mutations": batch.column("mutations"), "description": pa.array(texts, pa.string()),
            "encoded_wild_types": pa.array([counts[0], *zeros], pa.int64()),
            "encoded_mutants": pa.array([counts[1], *zeros], pa.int64()),
        })
