"""The embedding store on object storage: s3:// through pyarrow.fs, against a local S3-compatible server (moto).

The server (:mod:`m2t.bench.s3`) speaks the real S3 HTTP API on 127.0.0.1; pyarrow's own S3 client talks to it. The
endpoint and credentials travel in the URI, so the Ray workers of the shared test cluster reach it too.
"""

from __future__ import annotations

import numpy as np
import pyarrow.fs as pafs
import pytest
import torch

from m2t.bench import s3
from m2t.config import load_config
from m2t.data.records import Record
from m2t.embed.pipeline import embed_records
from m2t.embed.store import EmbeddingStore
from m2t.encoders import build_encoder
from m2t.model.tokenizer import build_tokenizer
from m2t.train.batches import BatchMaker

pytestmark = pytest.mark.timeout(300)
D = 8


@pytest.fixture(scope="module")
def s3_server():
    """``(endpoint host:port, a pyarrow S3FileSystem on it)``: a moto S3 server in a process of its own."""
    if not s3.available():
        pytest.skip("moto is not installed (a dev dependency: pip install -e '.[dev]')")
    with s3.local_s3() as endpoint:
        yield endpoint, s3.filesystem(endpoint)


def _uri(s3_server, bucket: str, prefix: str) -> str:
    return s3.bucket_uri(s3_server[0], bucket, prefix)


def _emb(seq: str, seed: int = 0) -> torch.Tensor:
    return torch.randn(len(seq), D, generator=torch.Generator().manual_seed(seed + len(seq)))


def test_store_round_trip_on_s3(s3_server):
    uri = _uri(s3_server, "unit", "runs/emb")
    store = EmbeddingStore.create(uri, encoder_id="enc:a", hidden_size=D, dtype="bfloat16")
    store.write_shard(["MKV", "MKVL"], [_emb("MKV", 1), _emb("MKVL")])
    store.write_shard(["MKV", "ACDE"], [_emb("MKV", 2), _emb("ACDE")])  # MKV again: the first shard wins
    _, fs = s3_server
    # a shard whose upload never completed leaves no object; an orphan shard without its index fragment is ignored
    with fs.open_output_stream("unit/runs/emb/shards/99999-orphan.safetensors") as fh:
        fh.write(b"\x00" * 16)
    reopened = EmbeddingStore.open(uri)
    assert len(reopened) == 3 and reopened.missing(["MKV", "WWW"]) == ["WWW"]
    got = reopened.get_many(["ACDE", "MKV"])
    np.testing.assert_allclose(got[1], _emb("MKV", 1).to(torch.bfloat16).float().numpy())
    np.testing.assert_allclose(got[0], _emb("ACDE").to(torch.bfloat16).float().numpy())
    counts = reopened.update_manifest()
    shards = fs.get_file_info(pafs.FileSelector("unit/runs/emb/shards"))
    assert counts["shards"] == 2 and counts["duplicates"] == 1
    assert counts["bytes"] == sum(i.size for i in shards if "orphan" not in i.base_name)
    assert EmbeddingStore.open(uri).manifest["counts"] == counts  # the manifest object was republished


def test_embed_job_writes_s3_and_training_reads_it(ray_cluster, s3_server, tmp_path):
    """``embed.store: s3://...`` from the config: the Ray actors write the shards to the bucket (nothing lands on
    local disk) and the training batches read from it equal those of a local store of the same records."""
    wt = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    records = [
        Record(
            id=f"r{i}",
            wild_type=wt,
            mutant=wt[:i] + "W" + wt[i + 1 :],
            mutations=(f"{wt[i]}{i + 1}W",),
            description=f"Residue {i + 1} to W.",
            protein_id=None,
            protein_name=None,
            function=None,
            source="t",
            line=i,
        )
        for i in range(1, 6)
    ]
    uri = _uri(s3_server, "job", "m2t/embeddings")
    cfg = load_config(None, [f"embed.store={uri}", "embed.batch_sequences=2", f"output.root={tmp_path / 'out'}"])
    assert cfg.embed.store == uri
    summary = embed_records(cfg, records)
    assert (summary["unique_sequences"], summary["encoded"]) == (6, 6)
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("manifest.json"))
    _, fs = s3_server
    names = {i.base_name for i in fs.get_file_info(pafs.FileSelector("job/m2t/embeddings", recursive=True))}
    assert {"manifest.json", "summary.json", "rejects.jsonl"} <= names
    assert sum(n.endswith(".safetensors") for n in names) == 3  # 6 sequences, 2 a batch

    local = tmp_path / "local"
    store = EmbeddingStore.create(local, encoder_id=summary["encoder_id"], hidden_size=64, dtype=cfg.embed.dtype)
    unique = list(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)))
    store.write_shard(unique, build_encoder(cfg.encoder).embed(unique))
    tokenizer = build_tokenizer(cfg.model)
    rows = {
        "wild_type": np.array([r.wild_type for r in records]),
        "mutant": np.array([r.mutant for r in records]),
        "description": np.array([r.description for r in records]),
    }
    from_s3 = BatchMaker(tokenizer=tokenizer, model_cfg=cfg.model, store=cfg.embed.store)(rows)
    from_disk = BatchMaker(tokenizer=tokenizer, model_cfg=cfg.model, store=str(local))(rows)
    for key in from_disk:  # the job's actors encode 2 sequences a call, the local store all 6 in one: float32 noise
        # of the batch shape can flip a value to the neighbouring float16 step of the store (seen on an AMD EPYC)
        torch.testing.assert_close(from_s3[key], from_disk[key], rtol=2**-10, atol=1e-6)
