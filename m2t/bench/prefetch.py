"""The train benchmark's prefetch comparison: our step with the batches made ahead in a background thread
(:func:`m2t.train.prefetch.prefetch`, ``train.prefetch_batches`` deep, 2 when the config says 0) against the same
step making each batch on the training thread, on the same engine and the same batches.

The two alternate in blocks of :data:`PREFETCH_BLOCK` steps; each prefetched block starts with an empty queue (its
first batch is waited for, as at the start of training) and is timed from its start to its last step, so no batch
is made for free outside the timed stretch. ``train_prefetch`` reads the store on local disk; ``train_prefetch_s3``
(when moto, a dev dependency, is installed) the same store on a local S3-compatible server, where every read waits
on the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from m2t.bench import s3
from m2t.bench.report import result
from m2t.embed.store import EmbeddingStore
from m2t.train.batches import BatchMaker
from m2t.train.prefetch import Prefetcher

UNITS = "samples/s (stage-1 optimizer steps, tiny LLM)"
PREFETCH_BLOCK = 6  # steps per block of the prefetch on/off comparison


def prefetch_comparison(step: Callable[[dict], None], make, parts: list, *, depth: int) -> dict[str, float]:
    """Seconds of ``len(parts)`` optimizer steps (``step(batch)``) each way: ``off`` makes each batch (``make(part)``) inside its step, ``on``
    takes it from a :class:`Prefetcher` ``depth`` deep; blocks of :data:`PREFETCH_BLOCK` steps alternate.
    ``making``: the seconds the ``off`` steps spent in ``make`` (the most prefetching can hide)."""
    spent = {"off": 0.0, "on": 0.0, "making": 0.0}  # making: the off blocks' seconds in make() alone
    for start in range(0, len(parts), PREFETCH_BLOCK):
        block = parts[start : start + PREFETCH_BLOCK]
        started = time.perf_counter()
        for part in block:
            made = time.perf_counter()
            batch = make(part)
            spent["making"] += time.perf_counter() - made
            step(batch)
        spent["off"] += time.perf_counter() - started
        started = time.perf_counter()
        with Prefetcher((make(part) for part in block), depth=depth) as batches:
            for batch in batches:
                step(batch)
            spent["on"] += time.perf_counter() - started
    return spent


def prefetch_sides(step: Callable[[dict], None], make, parts: list, *, depth: int, store: tuple) -> dict[str, dict]:
    """``{"local": seconds, "s3": seconds}`` of :func:`prefetch_comparison` (``s3`` only when moto is installed);
    ``store``: ``(sequences, their embeddings, encoder, cfg)`` to write the S3 copy of the store from."""
    spent = {"local": prefetch_comparison(step, make, parts, depth=depth)}
    if not s3.available():
        return spent
    unique, embedded, encoder, cfg = store
    with s3.local_s3() as endpoint:
        uri = s3.bucket_uri(endpoint, "bench", "train_store")
        remote = EmbeddingStore.create(
            uri, encoder_id=encoder.encoder_id, hidden_size=encoder.hidden_size, dtype=cfg.embed.dtype
        )
        per_shard = cfg.embed.batch_sequences  # shards as the embedding job cuts them
        for i in range(0, len(unique), per_shard):
            remote.write_shard(unique[i : i + per_shard], embedded[i : i + per_shard])
        make_s3 = BatchMaker(tokenizer=make.tokenizer, model_cfg=make.model_cfg, store=uri)
        spent["s3"] = prefetch_comparison(step, make_s3, parts, depth=depth)
    return spent


def prefetch_result(spent: dict, *, where: str, batches: list, depth: int, inputs: dict, machine: dict) -> dict:
    """The ``train_prefetch`` result (store on local disk) or ``train_prefetch_s3`` (on a local S3 server)."""
    samples = sum(b["input_ids"].shape[0] for b in batches)
    side = {"steps": len(batches), "samples": samples}
    store = "store on local disk" if where == "local" else "store on a local S3-compatible server (moto, pyarrow S3)"
    prefetched = {
        **side,
        "value": samples / spent["on"],
        "seconds": round(spent["on"], 3),
        "how": f"our step, batches made {depth} ahead in a background thread (train.prefetch_batches); {store}",
    }
    serial = {
        **side,
        "value": samples / spent["off"],
        "seconds": round(spent["off"], 3),
        "making_share": round(spent["making"] / spent["off"], 3),  # what prefetching could hide at most
        "how": f"our step, each batch made on the training thread (prefetch off); blocks of {PREFETCH_BLOCK} "
        f"steps alternate with the prefetched ones, same engine, same batches; {store}",
    }
    return result(
        benchmark="train_prefetch" if where == "local" else "train_prefetch_s3",
        ours=prefetched,
        baseline=serial,
        units=UNITS,
        inputs={**inputs, "prefetch_batches": depth, "block_steps": PREFETCH_BLOCK, "store": where},
        machine=machine,
        target={"rule": "> 1x", "met": bool(prefetched["value"] > serial["value"])},
    )
