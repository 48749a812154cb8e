"""The Ray Data callable of the embedding pipeline: :class:`EncoderActor`.

It builds the protein encoder once per actor and, per batch, either writes one store shard (store
mode: rows are sequences) or adds ``wt_emb``/``mut_emb`` columns to records (stream mode). Its pool's
resources come from :func:`m2t.placement.encoder_pool`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from m2t.config import EncoderConfig
from m2t.data.crop import encoder_window
from m2t.embed.store import TORCH_DTYPES, EmbeddingStore
from m2t.errors import MismatchError


def round_to(emb: torch.Tensor, dtype: str) -> np.ndarray:
    """``emb`` rounded through the store dtype, as float32: what a store read of it returns."""
    return emb.detach().to("cpu", TORCH_DTYPES[dtype]).float().numpy()


class EncoderActor:
    """Loads the encoder once in ``__init__``; ``__call__`` embeds one Ray Data batch.

    Store mode (``store`` given): the batch has a ``sequence`` column; the embeddings of those the store does not
    hold yet become one shard, and the call returns one row of shard stats. Stream mode: the batch holds records
    (``wild_type``, ``mutant``, ...); it is returned with ``wt_emb`` (Lw, D) and ``mut_emb`` (Lm, D)
    float32 columns, rounded through ``dtype`` like a store read, each distinct sequence embedded once; a pair
    longer than the encoder takes is embedded as its window (:mod:`m2t.data.crop`, ``encoder.long_sequences``).
    """

    def __init__(self, *, encoder: EncoderConfig, dtype: str, store: str | None = None):
        from m2t.encoders import build_encoder

        self.encoder = build_encoder(encoder)
        self.dtype, self.long_sequences = dtype, encoder.long_sequences
        self.store = EmbeddingStore.open(store) if store is not None else None
        if self.store is not None and self.store.encoder_id != self.encoder.encoder_id:
            raise MismatchError(
                f"embedding store {store} holds {self.store.encoder_id}, the actor built {self.encoder.encoder_id}"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.store is not None:
            return self._write_shard([str(s) for s in batch["sequence"]])
        windows = [
            encoder_window(str(w), str(m), max_residues=self.encoder.max_length, policy=self.long_sequences)
            for w, m in zip(batch["wild_type"], batch["mutant"], strict=True)
        ]
        wts, muts = [w.wild_type for w in windows], [w.mutant for w in windows]
        distinct = list(dict.fromkeys(wts + muts))
        by_seq = {s: round_to(e, self.dtype) for s, e in zip(distinct, self.encoder.embed(distinct), strict=True)}
        return {**batch, "wt_emb": [by_seq[s] for s in wts], "mut_emb": [by_seq[s] for s in muts]}

    def _write_shard(self, sequences: list[str]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        # A batch retried after its first actor (or that actor's node) died may have been published already, in
        # part: what the store holds now is skipped, so every sequence is stored once.
        self.store.catch_up()
        todo = self.store.missing(sequences)
        stats = {"shard": "", "sequences": 0, "residues": 0, "bytes": 0}  # all published already
        if todo:
            stats = self.store.write_shard(todo, self.encoder.embed(todo))
        stats["seconds"] = time.perf_counter() - started
        return {k: np.array([v]) for k, v in stats.items()}
