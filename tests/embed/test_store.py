"""EmbeddingStore: round trips per dtype, first-wins dedupe, torn writes ignored, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m2t.embed.store import EmbeddingStore, sequence_key
from m2t.errors import InputError, M2TError, MismatchError

D = 8


def _emb(seq: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + len(seq))
    return torch.randn(len(seq), D, generator=g)


@pytest.mark.parametrize(("dtype", "atol"), [("float16", 2e-3), ("bfloat16", 2e-2), ("float32", 0.0)])
def test_round_trip_within_dtype_tolerance(tmp_path, dtype, atol):
    store = EmbeddingStore.create(tmp_path / "s", encoder_id="enc:a", hidden_size=D, dtype=dtype)
    seqs = ["MKTAYIAK", "MKV", "ACDEFGHIKLMNPQRSTVWY"]
    stats = store.write_shard(seqs, [_emb(s) for s in seqs])
    assert stats["sequences"] == 3 and stats["residues"] == 31
    reopened = EmbeddingStore.open(tmp_path / "s")
    assert len(reopened) == 3 and "MKV" in reopened and "MKW" not in reopened
    for seq, got in zip(seqs, reopened.get_many(seqs), strict=True):
        assert got.dtype == np.float32 and got.shape == (len(seq), D)
        np.testing.assert_allclose(got, _emb(seq).numpy(), atol=atol, rtol=atol)
    np.testing.assert_array_equal(reopened.get("MKV"), reopened.get_many(["MKV"])[0])


def test_get_reads_only_its_own_shard(tmp_path):
    store = EmbeddingStore.create(tmp_path, encoder_id="enc:a", hidden_size=D)
    first = store.write_shard(["MKV"], [_emb("MKV")])
    store.write_shard(["MKVL"], [_emb("MKVL")])
    (tmp_path / "shards" / f"{first['shard']}.safetensors").write_bytes(b"garbage")  # damage the other shard
    np.testing.assert_allclose(EmbeddingStore.open(tmp_path).get("MKVL"), _emb("MKVL").numpy(), atol=2e-3)


def test_duplicates_across_shards_first_wins_and_are_counted(tmp_path):
    store = EmbeddingStore.create(tmp_path, encoder_id="enc:a", hidden_size=D)
    store.write_shard(["MKV", "MKVL"], [_emb("MKV", seed=1), _emb("MKVL")])
    store.write_shard(["MKV", "MKV"], [_emb("MKV", seed=2), _emb("MKV", seed=3)])  # in-call repeat kept once
    counts = store.update_manifest()
    assert len(store) == 2
    assert counts == {
        "sequences": 2,
        "residues": 7,
        "shards": 2,
        "duplicates": 1,
        "bytes": sum(p.stat().st_size for p in (tmp_path / "shards").iterdir()),
    }
    np.testing.assert_allclose(store.get("MKV"), _emb("MKV", seed=1).numpy(), atol=2e-3)
    assert json.loads((tmp_path / "manifest.json").read_text())["counts"] == counts


def test_torn_writes_are_ignored(tmp_path):
    store = EmbeddingStore.create(tmp_path, encoder_id="enc:a", hidden_size=D)
    store.write_shard(["MKV"], [_emb("MKV")])
    # A writer killed mid-shard leaves a temp file; one killed before its index fragment leaves an orphan shard.
    (tmp_path / "shards" / ".tmp-dead-99.safetensors").write_bytes(b"\x00" * 10)
    (tmp_path / "index" / ".tmp-dead-99.parquet").write_bytes(b"PAR1")
    other = EmbeddingStore.create(tmp_path / "other", encoder_id="enc:a", hidden_size=D)
    orphan = f"{other.write_shard(['MKVL'], [_emb('MKVL')])['shard']}.safetensors"
    (tmp_path / "other" / "shards" / orphan).rename(tmp_path / "shards" / orphan)
    reopened = EmbeddingStore.open(tmp_path)
    assert len(reopened) == 1 and reopened.missing(["MKVL", "MKV"]) == ["MKVL"]
    assert reopened.update_manifest()["shards"] == 1


def test_missing_is_distinct_in_first_seen_order(tmp_path):
    store = EmbeddingStore.create(tmp_path, encoder_id="enc:a", hidden_size=D)
    store.write_shard(["MKV"], [_emb("MKV")])
    assert store.missing(["AAA", "MKV", "CC", "AAA", "CC", "DDDD"]) == ["AAA", "CC", "DDDD"]


def test_refresh_sees_other_writers(tmp_path):
    reader = EmbeddingStore.create(tmp_path, encoder_id="enc:a", hidden_size=D)
    EmbeddingStore.open(tmp_path).write_shard(["MKV"], [_emb("MKV")])
    assert "MKV" not in reader
    reader.refresh()
    assert "MKV" in reader


def test_open_or_create_refuses_other_settings(tmp_path):
    EmbeddingStore.open_or_create(tmp_path, encoder_id="esm2:tiny:a", hidden_size=D)
    assert EmbeddingStore.open_or_create(tmp_path, encoder_id="esm2:tiny:a", hidden_size=D).encoder_id == "esm2:tiny:a"
    both = r"encoder_id: store has 'esm2:tiny:a', asked for 'esm3:x'.*hidden_size: store has 8, asked for 16"
    with pytest.raises(MismatchError, match=both):
        EmbeddingStore.open_or_create(tmp_path, encoder_id="esm3:x", hidden_size=16)
    with pytest.raises(MismatchError, match="dtype: store has 'float16', asked for 'float32'"):
        EmbeddingStore.open_or_create(tmp_path, encoder_id="esm2:tiny:a", hidden_size=D, dtype="float32")
    with pytest.raises(M2TError, match="already exists"):
        EmbeddingStore.create(tmp_path, encoder_id="esm2:tiny:a", hidden_size=D)


def test_errors_are_actionable(tmp_path):
    with pytest.raises(InputError, match="manifest.json missing.*m2t embed --output"):
        EmbeddingStore.open(tmp_path / "nowhere")
    store = EmbeddingStore.create(tmp_path, encoder_id="enc:a", hidden_size=D)
    with pytest.raises(KeyError, match=f"length 3 \\(sha256 {sequence_key('MKV')[:12]}"):
        store.get("MKV")
    with pytest.raises(M2TError, match=r"shape \(3, 4\) for a sequence of length 3.*expects \(L, 8\)"):
        store.write_shard(["MKV"], [torch.zeros(3, 4)])
