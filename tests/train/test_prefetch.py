"""Batches made ahead in a background thread: same batches in the same order, real overlap, errors and close."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import ray
import torch

from m2t.config import load_config
from m2t.embed.store import EmbeddingStore
from m2t.encoders import build_encoder
from m2t.model import build_tokenizer
from m2t.train.batches import BatchMaker, epochs, ingest_options
from m2t.train.prefetch import Prefetcher, prefetch


def test_the_next_items_are_made_while_the_consumer_holds_the_current_one_and_no_more():
    made = [threading.Event() for _ in range(10)]

    def source():
        for i in range(10):
            made[i].set()
            yield i

    with Prefetcher(source(), depth=2) as items:
        assert next(items) == 0
        # serially, item 1 would be made on the next call only; here items 1 and 2 are made while we hold item 0
        assert made[1].wait(timeout=10) and made[2].wait(timeout=10)
        time.sleep(0.3)
        assert not made[4].is_set()  # bounded: 2 in the queue, 1 in the producer's hand waiting for room
        assert list(items) == list(range(1, 10))


def test_order_end_and_a_failure_at_its_place():
    def failing():
        yield from range(3)
        raise RuntimeError("store read failed at item 3")

    items = prefetch(failing(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RuntimeError, match="store read failed at item 3"):
        next(items)
    with pytest.raises(StopIteration):
        next(items)
    assert list(prefetch(iter(range(5)), depth=3)) == [0, 1, 2, 3, 4]
    source = iter(range(2))
    assert prefetch(source, depth=0) is source  # 0 = no thread


def test_close_stops_a_producer_blocked_on_a_full_queue_and_closes_its_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    items = Prefetcher(endless(), depth=1)
    assert next(items) == 0
    started = time.monotonic()
    items.close()
    assert closed.is_set() and not items._thread.is_alive() and time.monotonic() - started < 5
    with pytest.raises(StopIteration):
        next(items)


def test_training_batches_are_the_same_with_and_without_prefetch(ray_cluster, tmp_path):
    """What the training loop iterates: epochs() over a Ray Data shard, store reads + collate, prefetched or not."""
    cfg = load_config(None, [f"embed.store={tmp_path / 'store'}"])
    encoder = build_encoder(cfg.encoder)
    rng = np.random.default_rng(0)
    wts = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=n)) for n in (30, 45, 60, 75, 90, 105)]
    rows = [
        {"id": f"r{i}", "wild_type": wt, "mutant": "W" + wt[1:], "description": f"text {i} " * (1 + i % 5)}
        for i, wt in enumerate(wts * 4)
    ]
    unique = list(dict.fromkeys(s for r in rows for s in (r["wild_type"], r["mutant"])))
    store = EmbeddingStore.create(cfg.embed.store, encoder_id=encoder.encoder_id, hidden_size=encoder.hidden_size)
    store.write_shard(unique, encoder.embed(unique))
    tokenizer = build_tokenizer(cfg.model)

    def batches(depth: int) -> list[tuple[int, dict[str, torch.Tensor]]]:
        make = BatchMaker(tokenizer=tokenizer, model_cfg=cfg.model, store=cfg.embed.store)
        ds = ray.data.from_items(rows)
        ds.context.execution_options = ingest_options()  # as the trainer sets it for every split
        source = epochs(ds.iterator(), make=make, batch_size=3, seed=7, start_epoch=2, group=2)
        items = prefetch(source, depth=depth)
        out = [next(items) for _ in range(20)]  # 8 micro-batches an epoch: into a third epoch
        items.close()
        return out

    serial, again, ahead = batches(0), batches(0), batches(2)
    assert [e for e, _ in ahead] == [e for e, _ in serial] and {e for e, _ in serial} == {2, 3, 4}
    for (_, a), (_, b), (_, c) in zip(serial, again, ahead, strict=True):
        assert a.keys() == b.keys() == c.keys() and all(torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) for k in a)
