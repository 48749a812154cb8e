"""Validation loss over every worker's val shard, and a few sample generations for the log."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from m2t.config import GenerationConfig
from m2t.model.batching import to_device
from m2t.train.batches import BatchMaker, supervised_tokens


@torch.no_grad()
def val_loss(
    engine, shard, *, make: BatchMaker, batch_size: int, dtype: torch.dtype, keep: int = 0
) -> tuple[float, dict[str, np.ndarray] | None]:
    """Token-weighted mean cross-entropy over the whole val split (all workers' shards; a collective),
    and this worker's first ``keep`` val rows (for :func:`sample_generations`; None when ``keep`` is 0).

    Every worker makes exactly one pass: Ray Data's split iterators start each epoch together.
    """
    engine.eval()
    total = torch.zeros(2, dtype=torch.float64, device=engine.device)  # (loss × tokens, tokens)
    kept = None
    for rows in shard.iter_batches(batch_size=batch_size, batch_format="numpy"):
        if keep and kept is None:
            kept = {k: v[:keep] for k, v in rows.items()}
        batch = to_device(make(rows), device=engine.device, dtype=dtype)
        n = supervised_tokens(batch)
        total[0] += engine.module(**batch).loss.double() * n
        total[1] += n
    dist.all_reduce(total)
    dist.broadcast(total, src=0)  # bit-identical on every rank: early stopping decides from it on each
    engine.train()
    return (float(total[0] / total[1]) if total[1] > 0 else float("nan")), kept


@torch.no_grad()
def sample_generations(
    model, rows: dict[str, np.ndarray], *, make: BatchMaker, gen: GenerationConfig, dtype: torch.dtype
) -> list[dict]:
    """Descriptions generated for ``rows`` (records) with the prompt training uses (the facts
    ``model.prompt_fields`` names) and the configured decoding, beside their references."""
    device = next(model.parameters()).device
    batch = to_device(make(rows), device=device, dtype=dtype)
    texts = model.generate(
        wt_emb=batch["wt_emb"],
        wt_mask=batch["wt_mask"],
        mut_emb=batch["mut_emb"],
        mut_mask=batch["mut_mask"],
        facts=[make.facts(rows, i) for i in range(len(rows["id"]))],
        max_new_tokens=gen.max_new_tokens,
        temperature=gen.temperature,
        top_p=gen.top_p,
        repetition_penalty=gen.repetition_penalty,
    )
    return [
        {"id": str(i), "reference": str(r), "generated": t}
        for i, r, t in zip(rows["id"], rows["description"], texts, strict=True)
    ]
