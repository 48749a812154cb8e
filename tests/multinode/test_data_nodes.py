"""The embedding and batch-scoring jobs on two Ray nodes, each losing a node mid-run.

Each node (3 CPUs) holds one 2-CPU actor of a pool of two, so the pool spans both nodes. The test kills one node's
raylet and every process on it at once, while the job runs, and adds a fresh node: Ray Data restarts the lost
actor there and retries its batch. After the job (or, when the loss failed it, its rerun) the embedding store holds
every distinct sequence once, and batch scoring wrote every accepted row once, its counts reconciled."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import actor_nodes

from m2t.bench.apps import bench_checkpoint
from m2t.config import load_config
from m2t.data.synthetic import generate
from m2t.embed.pipeline import embed_records
from m2t.embed.store import EmbeddingStore
from m2t.infer.batch_score import batch_score

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
NODES = [{"num_cpus": 3}, {"num_cpus": 3}]


def lose_a_node_while(nodes, job: Callable[[], dict], *, progress: Callable[[], int], actor: str, after: int) -> dict:
    """Run ``job`` in a thread; once ``progress()`` reaches ``after`` with ``actor`` actors on both nodes, kill one
    of those nodes and add a fresh one. Returns ``{"summary" or "error", "spanned": node ids, "lost": node id}``."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["summary"] = job()
        except Exception as exc:  # noqa: BLE001  (a job failed by the node loss is rerun by the test)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    where: set[str] = set()
    while thread.is_alive() and not (len(where) == 2 and progress() >= after):
        where = set(actor_nodes(actor).values())
        time.sleep(0.05)
    assert len(where) == 2, f"the job ended before its {actor} actors ran on both nodes: {outcome}"
    outcome["spanned"], outcome["lost"] = where, sorted(where)[0]
    nodes.remove(nodes.node(outcome["lost"]))
    nodes.add(num_cpus=3)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the job hung after the node loss"
    return outcome


def test_embedding_on_two_nodes_stores_every_sequence_once_after_losing_one(nodes, tmp_path):
    records = generate(n_proteins=20, mutants_per_protein=4, min_length=80, max_length=160, seed=5)
    distinct = list(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)))
    store = tmp_path / "store"
    cfg = load_config(
        None, [f"embed.store={store}", "embed.num_actors=2", "embed.cpus_per_actor=2", "embed.batch_sequences=2"]
    )
    index = store / "index"
    outcome = lose_a_node_while(
        nodes,
        lambda: embed_records(cfg, records),
        progress=lambda: len(list(index.glob("[!.]*.parquet"))) if index.is_dir() else 0,
        actor="MapWorker",
        after=10,
    )
    summary = outcome.get("summary") or embed_records(cfg, records)  # the rerun encodes only what is missing
    written = EmbeddingStore.open(store)
    assert written.missing(distinct) == [] and len(written) == len(distinct)
    assert summary["store_counts"] == {**summary["store_counts"], "sequences": len(distinct), "duplicates": 0}
    print(f"embedding: lost node {outcome['lost'][:8]}; {'rerun' if 'error' in outcome else 'one run'}")


def test_batch_scoring_on_two_nodes_reconciles_after_losing_one(nodes, tmp_path):
    cfg = load_config(
        None,
        [
            f"output.root={tmp_path}",
            "batch_score.num_actors=2",
            "batch_score.cpus_per_actor=2",
            "batch_score.batch_rows=2",
            "generation.max_new_tokens=16",
        ],
    )
    checkpoint = bench_checkpoint(cfg, tmp_path / "checkpoint")
    records = generate(n_proteins=12, mutants_per_protein=4, min_length=40, max_length=80, seed=7)
    rows = [{"id": r.id, "wild_type": r.wild_type, "mutant": r.mutant} for r in records]
    rows += [
        {"id": "bad-1", "wild_type": "MKV", "mutations": "Q2R"},
        {"id": "bad-2", "wild_type": "MKV", "mutant": "MKJ"},
    ]
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scored"

    def score() -> dict:
        return batch_score(cfg, checkpoint=checkpoint, output=out, inputs=[data])

    parts = out / "parts"
    outcome = lose_a_node_while(
        nodes,
        score,
        progress=lambda: len(list(parts.glob("part-*.parquet"))) if parts.is_dir() else 0,
        actor="MapWorker",
        after=3,
    )
    first = outcome.get("summary")
    summary = first or score()  # the rerun skips the rows already written
    assert summary["total"] == summary["scored"] + summary["rejected"] + summary["skipped"] == len(rows)
    assert summary["rejected"] == 2 and summary["written"] == len(records)
    if first is None:
        assert summary["skipped"] > 0  # the first run's parts were kept
    ids = pq.read_table(Path(summary["outputs"]["predictions.parquet"]), columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(r.id for r in records)  # every accepted row, once
    print(f"batch scoring: lost node {outcome['lost'][:8]}; {'rerun' if first is None else 'one run'}: {summary}")
