"""jobs/embed.py end to end, as a user runs it, connected to the shared test cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m2t.cli import EXIT_MISMATCH, EXIT_OK, EXIT_PLACEMENT
from m2t.config import load_config
from m2t.data.readers import read_records
from m2t.embed.pipeline import embed_records
from m2t.embed.store import EmbeddingStore

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


def _job(ray_cluster, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address}
    return subprocess.run(
        [sys.executable, str(REPO / "jobs" / "embed.py"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_job_rejects_bad_rows_and_refuses_another_encoder(ray_cluster, tmp_path):
    good = {"wild_type": "MKTAYIAKQRQISFVKSHFSRQ", "mutations": "K2R", "description": "Lysine 2 replaced by arginine."}
    rows = [good, {**good, "mutations": "Q2R"}, {**good, "wild_type": "MKTAYIAK1RQ"}, {**good, "mutations": "A4W"}]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = tmp_path / "store"
    done = _job(ray_cluster, "--input", str(data), "--output", str(store), "embed.batch_sequences=2")
    assert done.returncode == EXIT_OK, done.stderr[-3000:]
    summary = json.loads((store / "summary.json").read_text())
    assert (summary["records"], summary["rejects"], summary["unique_sequences"], summary["encoded"]) == (2, 2, 3, 3)
    rejects = [json.loads(line) for line in (store / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["kind"]) for r in rejects] == [(2, "notation_mismatch"), (3, "bad_alphabet")]
    assert rejects[0]["reason"] == "mutation Q2R expects Q at position 2, found K"
    other = _job(ray_cluster, "--input", str(data), "--output", str(store), "encoder.name=256")
    assert other.returncode == EXIT_MISMATCH
    assert "hidden_size: store has 64, asked for 256" in other.stderr


def test_a_pool_the_cluster_cannot_place_exits_4_before_any_work(ray_cluster, tmp_path):
    crowded = _job(ray_cluster, "--output", str(tmp_path / "store"), "embed.num_actors=3", "embed.cpus_per_actor=1")
    assert crowded.returncode == EXIT_PLACEMENT == 4, crowded.stderr[-3000:]
    assert (
        "error: embed.num_actors × embed.cpus_per_actor = 3 × 1 CPUs: 3 embed actors of 1 CPUs do not fit"
        in crowded.stderr
    )
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_mutadescribe_test_medium_counts(ray_cluster, mutadescribe_dir, tmp_path):
    path = mutadescribe_dir / "test_medium.csv"
    every = read_records([path], max_length=1024, extended_alphabet=False).accepted
    assert (len(every), len({r.wild_type for r in every})) == (384, 198)  # 384 mutants of 198 wild types
    # UniRep-64 (the default), like ESM, takes at most 1022 residues. With encoder.long_sequences=reject the 128 rows with a
    # 1023-1024-residue protein become rejects (not failures): 256 records, 158 wild types + mutants = 216 distinct.
    strict = load_config(
        None, [f"embed.store={tmp_path / 'r'}", "encoder.long_sequences=reject", "embed.batch_sequences=64"]
    )
    summary = embed_records(strict, [path])
    assert (summary["records"], summary["rejects"], summary["cropped"], summary["sequences"]) == (256, 128, 0, 512)
    assert (summary["unique_sequences"], summary["encoded"], summary["reused"]) == (216, 216, 0)
    rejects = [json.loads(line) for line in (tmp_path / "r" / "rejects.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rejects} == {"too_long_for_encoder"}
    assert "longer than the 1022 the encoder takes" in rejects[0]["reason"] and "unirep:64" in rejects[0]["reason"]
    # The default crops them instead: every record is kept, the long pairs as 1022-residue windows around the mutation.
    cfg = load_config(None, [f"embed.store={tmp_path / 'c'}", "embed.batch_sequences=64"])
    summary = embed_records(cfg, [path])
    assert (summary["records"], summary["rejects"], summary["cropped"], summary["unique_sequences"]) == (
        384,
        0,
        128,
        324,
    )
    store = EmbeddingStore.open(tmp_path / "c")
    long = next(r for r in every if len(r.wild_type) == 1024)  # a substitution: both windows start at the same residue
    site = int(long.mutations[0][1:-1])  # 1-based
    starts = [i for i in range(3) if long.wild_type[i : i + 1022] in store]  # 0-based starts of stored windows
    assert long.wild_type not in store and any(i < site <= i + 1022 for i in starts)
    assert store.get(long.wild_type[starts[0] : starts[0] + 1022]).shape == (1022, 64)
