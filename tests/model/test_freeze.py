"""Freezing per stage: frozen parameters get no gradients; the trainable count is logged."""

import logging

import pytest
import torch
from model_fixtures import open_gates, random_batch, tiny_cfg

from m2t.model import build_model, set_trainable


def _grads_after_backward(model, cfg) -> tuple[set[str], set[str]]:
    batch = random_batch(model, cfg, ["the answer", "another answer"], [(10, 10), (8, 9)])
    model(**batch).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return with_grad, trainable


def test_stage1_trains_only_the_adapter(caplog):
    cfg = tiny_cfg()
    with caplog.at_level(logging.INFO, logger="m2t.model.freeze"):
        model = build_model(cfg, stage="pretrain", dim_in=64)
    open_gates(model)  # so every adapter weight, not only the gates, is on the gradient path
    with_grad, trainable = _grads_after_backward(model, cfg)
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith("adapter.")}
    assert with_grad == trainable  # every trainable weight learns, nothing frozen gets a gradient
    n = sum(p.numel() for p in model.adapter.parameters())
    assert f"stage pretrain: {n:,} of" in caplog.text


def test_stage2_trains_only_lora_and_the_base_gets_no_gradient():
    cfg = tiny_cfg()
    model = build_model(cfg, stage="finetune", dim_in=64)
    open_gates(model)
    with torch.no_grad():  # B = 0 at init would stop the gradient of A; give B a value
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.01)
    with_grad, trainable = _grads_after_backward(model, cfg)
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == set(cfg.lora.target_modules)
    assert with_grad == trainable


def test_stage2_with_train_adapters_also_trains_the_adapter():
    cfg = tiny_cfg("lora.train_adapters=true")
    model = build_model(cfg, stage="finetune", dim_in=64)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n in trainable if n.startswith("adapter.")} == {
        n for n, _ in model.adapter.named_parameters(prefix="adapter")
    }
    assert {n for n in trainable if not n.startswith("adapter.")} == {n for n in trainable if "lora_" in n}


def test_infer_freezes_everything_and_stage2_without_lora_is_refused():
    cfg = tiny_cfg()
    model = build_model(cfg, stage="pretrain", dim_in=64)
    assert set_trainable(model, stage="infer") == 0
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="is LoRA applied"):
        set_trainable(model, stage="finetune")
