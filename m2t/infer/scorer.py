"""The Ray Data side of batch scoring: the scorer actor (its pool's resources: :func:`m2t.placement.scorer_pool`)."""

from __future__ import annotations

import pyarrow as pa

from m2t.config import Config


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
        return pa.table(
            {
                "id": batch.column("id"),
                "wild_type_id": batch.column("wild_type_id"),
                "mutations": batch.column("mutations"),
                "description": pa.array(texts, pa.string()),
                "encoded_wild_types": pa.array([counts[0], *zeros], pa.int64()),
                "encoded_mutants": pa.array([counts[1], *zeros], pa.int64()),
            }
        )
