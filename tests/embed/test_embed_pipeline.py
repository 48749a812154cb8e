"""The embedding pipeline and the store/stream join on the shared 2-CPU Ray cluster, tiny random ESM-2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import ray

from m2t.config import load_config
from m2t.data.records import Record, records_to_table
from m2t.embed.identity import encoder_identity
from m2t.embed.pipeline import embed_records
from m2t.embed.store import EmbeddingStore
from m2t.embed.stream import stream_embeddings
from m2t.encoders import build_encoder
from m2t.errors import M2TError, MismatchError

pytestmark = pytest.mark.timeout(300)

WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
OTHER = "MSHYRSNVRDQVFNLFEVLGVDKALGHG"


def _record(i: int, wt: str, pos: int, new: str) -> Record:
    mut = wt[: pos - 1] + new + wt[pos:]
    return Record(
        id=f"r{i}",
        wild_type=wt,
        mutant=mut,
        mutations=(f"{wt[pos - 1]}{pos}{new}",),
        description=f"text {i}",
        protein_id=None,
        protein_name=None,
        function=None,
        source="t",
        line=i + 1,
    )


# 3 mutants of WT, one of them twice, + 1 mutant of OTHER: 5 records, 10 sequences, 4 + 2 = 6 distinct.
RECORDS = [
    _record(0, WT, 2, "R"),
    _record(1, WT, 5, "W"),
    _record(2, WT, 10, "A"),
    _record(3, WT, 2, "R"),
    _record(4, OTHER, 3, "K"),
]


def _cfg(store, *overrides: str):
    return load_config(None, [f"embed.store={store}", "embed.batch_sequences=2", *overrides])


@pytest.fixture(scope="module")
def first_run(ray_cluster, tmp_path_factory):
    """One embedding run shared by the tests below (each actor pool start costs seconds)."""
    cfg = _cfg(tmp_path_factory.mktemp("store"))
    return cfg, embed_records(cfg, RECORDS)


def test_round_trip_equals_direct_embed_and_dedupes(first_run):
    cfg, summary = first_run
    assert {k: summary[k] for k in ("records", "rejects", "sequences", "unique_sequences", "encoded", "reused")} == {
        "records": 5,
        "rejects": 0,
        "sequences": 10,
        "unique_sequences": 6,
        "encoded": 6,
        "reused": 0,
    }
    assert summary["residues"] == 4 * len(WT) + 2 * len(OTHER)
    assert summary["residues_per_s"] > 0 and summary["bytes"] > summary["residues"] * 64 * 2
    assert json.loads((Path(cfg.embed.store) / "summary.json").read_text()) == summary
    store = EmbeddingStore.open(cfg.embed.store)
    assert len(store) == 6 and store.manifest["counts"]["shards"] == 3  # 6 sequences, batches of 2
    encoder = build_encoder(cfg.encoder)
    assert store.encoder_id == encoder.encoder_id and store.hidden_size == encoder.hidden_size
    seqs = [RECORDS[0].mutant, WT, OTHER]
    for got, want in zip(store.get_many(seqs), encoder.embed(seqs), strict=True):
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), atol=5e-3, rtol=2e-3)


def test_rerun_encodes_nothing_and_resume_encodes_exactly_the_missing(first_run, tmp_path):
    cfg = _cfg(tmp_path / "store")
    shutil.copytree(first_run[0].embed.store, cfg.embed.store)
    again = embed_records(cfg, RECORDS)
    assert (again["encoded"], again["reused"], again["residues"], again["bytes"]) == (0, 6, 0, 0)
    # An interrupted run: one shard's index fragment never landed, and a torn temp shard was left behind.
    store = EmbeddingStore.open(cfg.embed.store)
    fragment = sorted((Path(cfg.embed.store) / "index").glob("*.parquet"))[1]
    fragment.unlink()
    (Path(cfg.embed.store) / "shards" / ".tmp-torn.safetensors").write_bytes(b"\x00" * 7)
    store.refresh()
    assert len(store) == 4
    resumed = embed_records(cfg, [*RECORDS, _record(5, OTHER, 7, "Y")])  # + more input: one new mutant
    assert (resumed["encoded"], resumed["reused"], resumed["unique_sequences"]) == (3, 4, 7)
    assert resumed["store_counts"]["sequences"] == 7 and resumed["store_counts"]["duplicates"] == 0


@pytest.mark.slow
def test_store_and_stream_give_the_same_embeddings(first_run):
    """Training reads a record's embeddings from the store (store mode) or gets them from the encoder actors
    (stream mode): the same numbers either way."""
    cfg, _ = first_run
    store = EmbeddingStore.open(cfg.embed.store)
    rows = stream_embeddings(cfg, ray.data.from_arrow(records_to_table(RECORDS))).take_all()
    assert sorted(row["id"] for row in rows) == [r.id for r in RECORDS]
    for row in rows:
        record = next(r for r in RECORDS if r.id == row["id"])
        assert row["description"] == record.description and list(row["mutations"]) == list(record.mutations)
        wt, mut = store.get_many([record.wild_type, record.mutant])
        assert wt.shape == (len(record.wild_type), 64) and row["wt_emb"].dtype == np.float32
        # Both rounded through fp16; only the batch composition (padding) differs.
        np.testing.assert_allclose(row["wt_emb"], wt, atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(row["mut_emb"], mut, atol=2e-3, rtol=2e-3)


def test_other_encoder_is_refused(first_run):
    other = _cfg(first_run[0].embed.store, "encoder.layer=2")  # another layer's states: other embeddings
    with pytest.raises(MismatchError, match="encoder_id: store has 'unirep:64', asked for 'unirep:64:layer2'"):
        embed_records(other, RECORDS)
    identity = encoder_identity(other.encoder)  # what training checks before reading the store
    with pytest.raises(MismatchError, match="encoder_id: store has 'unirep:64'"):
        EmbeddingStore.open(first_run[0].embed.store).check(
            encoder_id=identity.encoder_id, hidden_size=identity.hidden_size
        )


def test_pool_that_does_not_fit_the_node_is_refused(ray_cluster, tmp_path):
    cfg = _cfg(tmp_path, "embed.num_actors=2", "embed.cpus_per_actor=1.5")
    with pytest.raises(M2TError, match=r"2 × 1.5 CPUs: 2 embed actors of 1.5 CPUs do not fit on this cluster's nodes"):
        embed_records(cfg, RECORDS)


def test_actor_caps_padding_without_changing_embeddings():
    """encoder.max_padding: a length-mixed batch runs as more micro-batches, with the same embeddings."""
    from m2t.embed.actor import EncoderActor

    cfg = load_config(None)
    batch = {"wild_type": np.array(["MKT" * 3, "MKTAYIAKQR" * 6]), "mutant": np.array(["MKA" * 3, "MKTAYIAKQW" * 6])}
    capped = EncoderActor(encoder=cfg.encoder, dtype="float32")  # the default cap, 0.1
    uncapped = EncoderActor(encoder=cfg.encoder.model_copy(update={"max_padding": 1.0}), dtype="float32")
    a, b = capped(dict(batch)), uncapped(dict(batch))
    assert (capped.encoder.forward_calls, uncapped.encoder.forward_calls) == (2, 1)  # 9 and 60 residues: 45% padding
    for key in ("wt_emb", "mut_emb"):
        for x, y in zip(a[key], b[key], strict=True):
            np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-4)


def test_a_retried_batch_writes_only_what_its_lost_actor_had_not_published(tmp_path):
    """Ray Data retries the batch of an actor that died (or lost its node) after publishing a shard: the actor that
    takes it over stores only what is missing, so every sequence is stored once."""
    from m2t.embed.actor import EncoderActor

    cfg = load_config(None)
    identity = encoder_identity(cfg.encoder)
    store = EmbeddingStore.create(tmp_path, encoder_id=identity.encoder_id, hidden_size=identity.hidden_size)
    lost = EncoderActor(encoder=cfg.encoder, dtype="float16", store=str(tmp_path))
    retry = EncoderActor(encoder=cfg.encoder, dtype="float16", store=str(tmp_path))  # opened before the shard landed
    lost({"sequence": np.array(["MKTAYIAKQR", "MKV"])})  # published; its result never reached Ray Data
    row = retry({"sequence": np.array(["MKTAYIAKQR", "MKV", "MKW"])})
    assert row["sequences"].tolist() == [1] and retry.encoder.forward_calls == 1
    counts = store.update_manifest()
    assert (counts["sequences"], counts["duplicates"]) == (3, 0)
