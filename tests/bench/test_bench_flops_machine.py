"""FLOP counts from the architecture agree with torch's counter; the machine record is measured."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from m2t.bench.machine import machine_info, matmul_flops
from m2t.bench.report import format_table, result, write_json
from m2t.encoders.esm2 import tiny_model as tiny_esm2
from m2t.encoders.esmc import tiny_model as tiny_esmc
from m2t.plan.flops import encoder_forward_flops, matmul_params, transformer_dims


def _counted(model, ids: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids) if hasattr(model, "config") else model(sequence_tokens=ids)
    return counter.get_total_flops()


def test_esm2_forward_flops_equal_torch_count():
    model = tiny_esm2(d_model=32, n_layers=2, n_heads=4, seed=0).eval()
    assert transformer_dims(model) == (32, 2)
    ids = torch.randint(4, 24, (1, 52))  # 50 residues + BOS/EOS
    assert encoder_forward_flops(model, [50]) == pytest.approx(_counted(model, ids), rel=1e-9)


def test_esmc_forward_flops_are_torch_count_plus_fused_attention():
    # torch's counter does not see the CPU fused attention kernel ESM C calls, so it counts the matmuls only
    model = tiny_esmc(d_model=32, n_layers=2, n_heads=4, seed=0).eval()
    ids = torch.randint(4, 24, (1, 42))
    attention = 4 * 42 * 42 * 32 * 2
    assert encoder_forward_flops(model, [40]) == pytest.approx(_counted(model, ids) + attention, rel=1e-9)
    assert encoder_forward_flops(model, [40, 40]) == pytest.approx(2 * encoder_forward_flops(model, [40]))
    assert matmul_params(model) > 0


def test_matmul_flops_and_machine_record():
    flops = matmul_flops(dtype=torch.float32, device=torch.device("cpu"), size=256, seconds=0.05, repeats=2)
    assert 1e8 < flops < 1e14
    info = machine_info()
    assert info["cpu_count"] >= 1 and info["matmul_flops"] > 1e8 and info["dtype"] == "float32" and info["gpu"] is None


def test_results_table_and_json(tmp_path):
    r = result(
        benchmark="x",
        ours={"value": 30.0},
        baseline={"value": 10.0},
        units="things/s",
        inputs={},
        machine={},
        target={"rule": ">= 2x", "met": True},
    )
    assert r["ratio"] == 3.0
    table = format_table([r])
    assert "| x " in table and "3.00x" in table and "met" in table
    assert json.loads(write_json([r], tmp_path / "b.json").read_text()) == [r]
