"""The capacity planner against what the tiny setup really builds, stores and trains; and on every shipped config."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from m2t.config import REPO_ROOT, load_config
from m2t.data.records import write_records
from m2t.data.synthetic import generate
from m2t.embed.pipeline import embed_records
from m2t.embed.store import EmbeddingStore
from m2t.model import build_model
from m2t.plan.capacity import plan
from m2t.plan.epochs import epoch_shape
from m2t.plan.profile import data_profile, from_records
from m2t.train.inputs import prepare_inputs
from m2t.train.metrics import read_metrics
from m2t.train.trainer import run_stage

CONFIGS = REPO_ROOT / "jobs" / "configs"
REAL_SPEC = "rows=151000,proteins=20000,residues=430,max_residues=1022,desc_chars=190,max_desc_chars=1060"
REAL_COMMAND = ["jobs/plan.py", "--config", "m2t/configs/llama3_esm3.yaml", "--data", REAL_SPEC]


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    records = tmp / "records.parquet"
    write_records(records, generate(n_proteins=10, mutants_per_protein=5, min_length=30, max_length=120, seed=3))
    cfg = load_config(None, ["encoder.backend=esm2", f"embed.store={tmp / 'store'}", "embed.batch_sequences=8"])
    return cfg, records, plan(cfg, from_records(cfg, [records]))


def test_parameter_counts_are_those_of_the_built_tiny_model(tiny_plan):
    cfg, _, p = tiny_plan
    for stage, planned in zip(("pretrain", "finetune"), p["stages"], strict=True):
        model = build_model(cfg, stage=stage, dim_in=64)
        params = list(model.parameters())
        total, trainable = sum(x.numel() for x in params), sum(x.numel() for x in params if x.requires_grad)
        assert planned["params"] == {"total": total, "trainable": trainable}, stage
    assert p["encoder"]["hidden"] == 64


def test_store_size_is_within_a_few_percent_of_the_store_on_disk(ray_cluster, tiny_plan):
    cfg, records, p = tiny_plan
    embed_records(cfg, [records])
    on_disk = EmbeddingStore.open(cfg.embed.store).manifest["counts"]
    shards = sum(f.stat().st_size for f in (Path(cfg.embed.store) / "shards").glob("*.safetensors"))
    assert on_disk["bytes"] == shards and on_disk["sequences"] == p["data"]["distinct"]
    assert p["store_bytes"] == pytest.approx(shards, rel=0.03)


@pytest.mark.slow
def test_samples_and_micro_batches_per_epoch_are_what_a_tiny_run_sees(ray_cluster, tmp_path):
    """Train one epoch and a bit: the steps and samples of epoch 0 in metrics.jsonl are the plan's, exactly
    (an odd train split: equal shards drop a row, and the last batch of an epoch is short)."""
    over = [
        f"output.root={tmp_path}",
        f"embed.store={tmp_path / 'store'}",
        f"train.storage_path={tmp_path / 'ray'}",
        "data.synthetic.n_proteins=11",
        "data.synthetic.mutants_per_protein=5",
        "train.pretrain.micro_batch_size=4",
        "train.pretrain.group_by_length=2",
        "train.pretrain.eval_every=0",
    ]
    cfg = load_config(None, over)
    prepare_inputs(cfg)  # records, split and store, as the stage makes them
    profile = data_profile(cfg, [str(tmp_path / "data" / "records.parquet")])
    assert profile.train_rows == pq.ParquetFile(tmp_path / "data" / "train.parquet").metadata.num_rows
    shape = epoch_shape(cfg.train.pretrain, train_rows=profile.train_rows, workers=cfg.train.num_workers)
    assert shape["dropped"] == profile.train_rows % 2
    steps = shape["micro_batches_per_worker"] + 2
    cfg = load_config(None, [*over, f"train.pretrain.steps={steps}", f"train.pretrain.checkpoint_every={steps}"])
    run_stage(cfg, stage="pretrain")
    rows = [r for r in read_metrics(tmp_path / "pretrain" / "metrics.jsonl") if r["epoch"] == 0]
    assert len(rows) == shape["micro_batches_per_worker"]
    assert sum(r["samples"] for r in rows) == shape["samples"]


def test_unirep_plans_as_the_recurrence_it_is():
    """UniRep's cost is its weights once per token (no attention), its width the hidden size; 152K weights for 64."""
    from m2t.plan import shapes
    from m2t.plan.flops import encoder_forward_flops, encoder_width

    cfg = load_config(None, ["encoder.backend=unirep", "encoder.name=64"])
    mlstm = shapes.build_encoder(cfg.encoder)
    assert encoder_width(mlstm) == 64 and 150_000 < shapes.count(mlstm)[0] < 160_000
    assert encoder_forward_flops(mlstm, [99, 199]) == 2 * mlstm.matmul_weights() * (100 + 200)
    assert plan(cfg, data_profile(cfg, [REAL_SPEC]))["encoder"]["hidden"] == 64


def _m2t_configs() -> list[Path]:
    return [p for p in sorted(CONFIGS.glob("*.yaml")) if "applications:" not in p.read_text()]


@pytest.mark.parametrize("path", _m2t_configs(), ids=lambda p: p.name)
def test_every_shipped_config_plans_and_fits_its_gpus(path):
    cfg = load_config(path)
    p = plan(cfg, data_profile(cfg, [REAL_SPEC]))
    assert p["encoder"]["params"] > 0 and p["encoder"]["embed_gpu_hours"] > 0
    for s in p["stages"]:
        assert s["params"]["total"] > s["params"]["trainable"] > 0
        assert 0 < s["memory_bytes"]["total_longest"] < s["gpu_memory_bytes"], (path.name, s["stage"])
        assert s["flops_per_sample"] > 0 and s["gpu_hours"] > 0 and s["epochs"] > 0
        assert s["gradient_bytes_per_step"] > s["gradient_bytes_per_micro_step"] > 0
    assert p["store_bytes"] > 0


@pytest.mark.slow
def test_the_real_setup_plan_in_docs_is_the_current_output():
    """docs/cluster.md shows what `python jobs/plan.py` prints for the real setup; a changed config or planner
    must update it."""
    out = subprocess.run(
        [sys.executable, *REAL_COMMAND], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=True
    ).stdout
    doc = (REPO_ROOT / "docs" / "cluster.md").read_text()
    assert " ".join(REAL_COMMAND) in re.sub(r"\s*\\\n\s*", " ", doc)
    printed = [line.strip() for line in out.splitlines() if line.strip()]
    assert len(printed) > 15 and all(line in doc for line in printed), [x for x in printed if x not in doc]
