"""Stream mode (``embed.mode: stream``): records get their embeddings on the fly from the encoder actors.

:func:`stream_embeddings` adds ``wt_emb`` (Lw, D) and ``mut_emb`` (Lm, D) float32 columns to a Ray Dataset of
records, computed by the same :class:`~m2t.embed.actor.EncoderActor` pool that fills stores and rounded through
``embed.dtype`` like a store read, so both modes give the training loop the same numbers. Nothing is stored.
"""

from __future__ import annotations

import ray

from m2t.config import Config
from m2t.embed.actor import EncoderActor
from m2t.placement import encoder_pool


def stream_embeddings(cfg: Config, records: ray.data.Dataset) -> ray.data.Dataset:
    """``records`` (the :class:`~m2t.data.records.Record` columns) with ``wt_emb``/``mut_emb`` added by encoder actors."""
    return records.map_batches(
        EncoderActor,
        fn_constructor_kwargs={"encoder": cfg.encoder, "dtype": cfg.embed.dtype},
        **encoder_pool(cfg, beside_training=True),
    )
