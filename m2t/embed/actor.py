"""Ray Data callables of the embedding pipeline and the actor-pool options they run with.

:class:`EncoderActor` builds the protein encoder once per actor and, per batch, either writes one
store shard (store mode: rows are sequences) or adds ``wt_emb``/``mut_emb`` columns to records
(stream mode). :class:`StoreReader` adds the same columns from a store, so both modes hand the
training loop the same rows.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from m2t.config import Config, EncoderConfig
from m2t.embed.store import TORCH_DTYPES, EmbeddingStore
from m2t.errors import M2TError, MismatchError

log = logging.getLogger(__name__)


def pool_options(cfg: Config) -> dict:
    """``map_batches`` keyword arguments for the encoder actor pool on the current Ray cluster.

    One GPU per actor when the cluster has GPUs (at most one actor per GPU); otherwise fractional
    CPUs, refusing a pool that would take every CPU (Ray Data's own tasks would starve and hang).
    """
    import ray  # here, so that inference (the describer's round_to) runs without Ray installed
    from ray.data import ActorPoolStrategy

    if not ray.is_initialized():
        ray.init()
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    size, num_gpus = cfg.embed.num_actors, 0
    if gpus:
        num_gpus = 1
        if size > gpus:
            log.warning("embed.num_actors=%d but the cluster has %d GPUs: using %d actors", size, gpus, gpus)
            size = gpus
    elif size * cfg.embed.cpus_per_actor > cpus - 0.5:
        raise M2TError(f"embed.num_actors × embed.cpus_per_actor = {size} × {cfg.embed.cpus_per_actor} CPUs leaves "
                       f"under half a CPU of this {cpus:g}-CPU cluster for Ray Data's own tasks (it would hang); "
                       f"lower them so their product is at most {max(cpus - 0.5, 0.25):g}, e.g. "
                       f"embed.num_actors={size} embed.cpus_per_actor={max(cpus - 0.5, 0.25) / size:.2g}")
    return {"compute": ActorPoolStrategy(size=size), "num_gpus": num_gpus, "num_cpus": cfg.embed.cpus_per_actor,
            "batch_size": cfg.embed.batch_sequences}


def round_to(emb: torch.Tensor, dtype: str) -> np.ndarray:
    """``emb`` rounded through the store dtype, as float32: what a store read of it returns."""
    return emb.detach().to("cpu", TORCH_DTYPES[dtype]).float().numpy()


class EncoderActor:
    """Loads the encoder once in ``__init__``; ``__call__`` embeds one Ray Data batch.

    Store mode (``store`` given): the batch has a ``sequence`` column; its embeddings become one
    shard, and the call returns one row of shard stats. Stream mode: the batch holds records
    (``wild_type``, ``mutant``, ...); it is returned with ``wt_emb`` (Lw, D) and ``mut_emb`` (Lm, D)
    float32 columns, rounded through ``dtype`` like a store read, each distinct sequence embedded once.
    """

    def __init__(self, *, encoder: EncoderConfig, dtype: str, store: str | None = None):
        from m2t.encoders import build_encoder

        self.encoder = build_encoder(encoder)
        self.dtype = dtype
        self.store = EmbeddingStore.open(store) if store is not None else None
        if self.store is not None and self.store.encoder_id != self.encoder.encoder_id:
            raise MismatchError(f"embedding store {store} holds {self.store.encoder_id}, the actor built "
                                f"{self.encoder.encoder_id}")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.store is not None:
            return self._write_shard([str(s) for s in batch["sequence"]])
        wts, muts = [str(s) for s in batch["wild_type"]], [str(s) for s in batch["mutant"]]
        distinct = list(dict.fromkeys(wts + muts))
        by_seq = {s: round_to(e, self.dtype) for s, e in zip(distinct, self.encoder.embed(distinct), strict=True)}
        return {**batch, "wt_emb": [by_seq[s] for s in wts], "mut_emb": [by_seq[s] for s in muts]}

    def _write_shard(self, sequences: list[str]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        stats = self.store.write_shard(sequences, self.encoder.embed(sequences))
        stats["seconds"] = time.perf_counter() - started
        return {k: np.array([v]) for k, v in stats.items()}


class StoreReader:
    """Opens the store once; ``__call__`` adds ``wt_emb``/``mut_emb`` (float32) to a batch of records."""

    def __init__(self, *, store: str):
        self.store = EmbeddingStore.open(store)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wts, muts = [str(s) for s in batch["wild_type"]], [str(s) for s in batch["mutant"]]
        embs = self.store.get_many(wts + muts)
        return {**batch, "wt_emb": embs[: len(wts)], "mut_emb": embs[len(wts):]}
