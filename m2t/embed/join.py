"""Records joined with their embeddings, from the store or streamed from the encoder actors.

Training and batch scoring call :func:`embedded_dataset`: with ``embed.mode: store`` the rows are
read from the store, with ``embed.mode: stream`` they are computed on the fly by the same
:class:`~m2t.embed.actor.EncoderActor` pool that fills stores. Either way each row is a record
(the :class:`~m2t.data.records.Record` columns) plus ``wt_emb`` (Lw, D) and ``mut_emb`` (Lm, D)
float32 arrays rounded through ``embed.dtype``, so both modes give the training loop the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

from m2t.config import Config
from m2t.data.records import Record, records_to_table
from m2t.embed.actor import EncoderActor, StoreReader, pool_options
from m2t.embed.identity import encoder_identity
from m2t.embed.store import EmbeddingStore


def lookup(store: EmbeddingStore, record: Record) -> tuple[np.ndarray, np.ndarray]:
    """``(wt (Lw, D), mut (Lm, D))`` float32 embeddings of one record from the store."""
    wt, mut = store.get_many([record.wild_type, record.mutant])
    return wt, mut


def embedded_dataset(cfg: Config, records: Sequence[Record] | ray.data.Dataset, *,
                     mode: str | None = None, store: str | Path | None = None) -> ray.data.Dataset:
    """A Ray Dataset of records with ``wt_emb``/``mut_emb`` columns; ``mode`` defaults to ``cfg.embed.mode``.

    Store mode checks that the store (``store`` or ``cfg.embed.store``) was built by the configured
    encoder (:class:`m2t.errors.MismatchError` otherwise); a missing sequence fails the read with a
    message naming the embedding command.
    """
    mode = mode or cfg.embed.mode
    ds = records if isinstance(records, ray.data.Dataset) else ray.data.from_arrow(records_to_table(list(records)))
    options = pool_options(cfg)
    if mode == "stream":
        return ds.map_batches(EncoderActor, fn_constructor_kwargs={"encoder": cfg.encoder, "dtype": cfg.embed.dtype},
                              **options)
    root = Path(store if store is not None else cfg.embed.store)
    identity = encoder_identity(cfg.encoder, num_gpus=options["num_gpus"], num_cpus=options["num_cpus"])
    EmbeddingStore.open(root).check(encoder_id=identity.encoder_id, hidden_size=identity.hidden_size)
    return ds.map_batches(StoreReader, fn_constructor_kwargs={"store": str(root)},
                          **{**options, "num_gpus": 0})


def iter_embeddings(cfg: Config, records: Sequence[Record], *, mode: str | None = None,
                    store: str | Path | None = None) -> Iterator[tuple[Record, np.ndarray, np.ndarray]]:
    """``(record, wt_emb, mut_emb)`` per record as the rows arrive (not in input order), from
    :func:`embedded_dataset`; in stream mode nothing is stored."""
    records = list(records)
    table = records_to_table(records)
    ds = ray.data.from_arrow(table.append_column("_row", pa.array(range(len(records)), pa.int64())))
    for row in embedded_dataset(cfg, ds, mode=mode, store=store).iter_rows():
        yield records[row["_row"]], row["wt_emb"], row["mut_emb"]
