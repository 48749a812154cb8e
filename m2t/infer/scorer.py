"""The Ray Data side of batch scoring: the scorer actor (its pool's resources: :func:`m2t.placement.scorer_pool`)."""

from __future__ import annotations

import pyarrow as pa

from m2t.config import Config
from m2t.infer.describer import Describer, Query
from m2t.model.prompt import facts_of


class ScorerActor:
    """Loads the checkpoint and encoder once in ``__init__``; ``__call__`` describes one batch of rows.

    In: ``id``, ``wild_type_id``, ``wild_type``, ``mutant``, ``mutations``, ``protein_name``, ``function``. Out:
    ``id``, ``wild_type_id``, ``mutations``, ``window_start`` (1-based, null when not cropped), ``description``,
    ``effect_score`` / ``effect_score_note`` (:mod:`m2t.infer.effect`: the score, or null and why),
    ``effect_score_source`` (its method and encoder, flagged when the weights are random), plus
    ``encoded_wild_types`` / ``encoded_mutants``: how many sequences this batch sent through the encoder (on its
    first row; 0 elsewhere), which the driver adds up.
    """

    def __init__(self, *, checkpoint: str, cfg: Config) -> None:
        self.describer = Describer(checkpoint=checkpoint, cfg=cfg, wt_cache_size=cfg.batch_score.wt_cache_size)

    def __call__(self, batch: pa.Table) -> pa.Table:
        d = self.describer
        rows = batch.select(["wild_type", "mutant", "mutations", "protein_name", "function"]).to_pylist()
        queries = [Query(r.pop("wild_type"), r.pop("mutant"), facts_of(**r)) for r in rows]
        windows = [d.window(q.wild_type, q.mutant) for q in queries]
        before = d.encoded_wild_types, d.encoded_mutants
        described = d.describe_with_effects(queries)
        counts = d.encoded_wild_types - before[0], d.encoded_mutants - before[1]
        zeros = [0] * (len(described) - 1)
        return pa.table(
            {
                "id": batch.column("id"),
                "wild_type_id": batch.column("wild_type_id"),
                "mutations": batch.column("mutations"),
                "window_start": pa.array([w.start + 1 if w.cropped else None for w in windows], pa.int32()),
                "description": pa.array([x.text for x in described], pa.string()),
                "effect_score": pa.array([x.effect.score for x in described], pa.float64()),
                "effect_score_note": pa.array([x.effect.note for x in described], pa.string()),
                "effect_score_source": pa.array([d.effect_source.label] * len(described), pa.string()),
                "encoded_wild_types": pa.array([counts[0], *zeros], pa.int64()),
                "encoded_mutants": pa.array([counts[1], *zeros], pa.int64()),
            }
        )
