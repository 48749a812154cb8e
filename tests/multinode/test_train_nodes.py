"""Stage 1 on two Ray nodes, DeepSpeed ZeRO-2 over gloo between them, and a node lost mid-run.

Each node (3 CPUs) holds one 2-CPU training worker and keeps a CPU for Ray Data's read tasks. Rank 1 waits after
the report of step 5 (checkpoints every 3 steps) while the test kills its node's raylet and every process on it at
once, then adds a fresh node: Ray Train restarts the worker group on the surviving node and the fresh one, from the
checkpoint of step 3, and the run reaches the same final step."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch
from hooks import HoldAfter
from safetensors.torch import load_file

from m2t.config import load_config
from m2t.model import load_checkpoint
from m2t.train.metrics import read_metrics
from m2t.train.trainer import run_stage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
NODES = [{"num_cpus": 3}, {"num_cpus": 3}]
STEPS, EVERY, HOLD = 9, 3, 5


def test_stage1_runs_on_two_nodes_and_survives_losing_one(nodes, tmp_path):
    cfg = load_config(
        None,
        [
            f"output.root={tmp_path}",
            f"embed.store={tmp_path / 'embeddings'}",
            f"train.storage_path={tmp_path / 'ray'}",
            "train.num_workers=2",
            "train.cpus_per_worker=2",
            "train.max_failures=2",
            f"train.pretrain.steps={STEPS}",
            f"train.pretrain.checkpoint_every={EVERY}",
            f"train.pretrain.eval_every={EVERY}",
            "data.synthetic.n_proteins=16",  # 96 records: less to embed first
        ],
    )
    marker = tmp_path / "held"
    outcome: dict = {}

    def train() -> None:
        try:
            outcome["summary"] = run_stage(
                cfg, stage="pretrain", after_report=HoldAfter(step=HOLD, rank=1, marker=str(marker))
            )
        except BaseException as exc:  # noqa: BLE001  (reported by the assertions below)
            outcome["error"] = exc

    thread = threading.Thread(target=train, daemon=True)
    started = time.monotonic()
    thread.start()
    while not (marker.is_file() and marker.read_text()) and thread.is_alive():
        time.sleep(0.1)
    assert marker.is_file(), f"the run ended before step {HOLD}: {outcome}"
    lost = marker.read_text()
    first = read_metrics(tmp_path / "pretrain" / "metrics.jsonl")[0]["worker_nodes"]
    assert len(set(first)) == 2 and first[1] == lost, first  # one worker on each node
    gone = nodes.remove(nodes.node(lost))
    fresh = nodes.add(num_cpus=3)
    thread.join(timeout=420)
    assert not thread.is_alive(), "training did not finish after the node loss"
    assert "summary" in outcome, outcome.get("error")
    summary = outcome["summary"]
    print(f"node lost {gone - started:.0f} s in; run finished {time.monotonic() - gone:.0f} s later")

    assert summary["step"] == STEPS
    assert sorted(summary["worker_nodes"]) == sorted([first[0], fresh.node_id])  # the survivor and the fresh node
    assert json.loads((tmp_path / "pretrain" / "summary.json").read_text())["worker_nodes"] == summary["worker_nodes"]
    rows = read_metrics(tmp_path / "pretrain" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # every step once, to the configured total
    starts = [(r["step"], r["resumed_from"], r["worker_nodes"]) for r in rows if "worker_nodes" in r]
    assert starts[0][:2] == (1, 0) and starts[-1][:2] == (EVERY + 1, EVERY), starts  # resumed from checkpoint 3

    run = Path(summary["ray_checkpoint"])
    shards = sorted(p.name[:14] for p in (run / "deepspeed" / "state").glob("zero_pp_rank_*_optim_states.pt"))
    assert shards == ["zero_pp_rank_0", "zero_pp_rank_1"]  # ZeRO-2: each rank saved its optimizer shard
    model, _ = load_checkpoint(tmp_path / "pretrain" / "checkpoint", stage="infer")  # strict: every tensor, no extra
    published = load_file(tmp_path / "pretrain" / "checkpoint" / "adapter.safetensors")
    assert all(torch.equal(t, published[n]) for n, t in model.adapter.state_dict().items())
