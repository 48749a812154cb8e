"""LoRA's dropout on CPU (m2t.model.dropout): the same law and scaling as nn.Dropout, a cheaper mask."""

import pytest
import torch
from model_fixtures import tiny_cfg
from torch import nn

from m2t.model import build_model, load_checkpoint, save_checkpoint
from m2t.model.dropout import FastDropout, fast_lora_dropout, keep_mask


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_the_mask_keeps_each_element_with_probability_1_minus_p_independently(p):
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), p).float()
    # 10^6 Bernoulli draws: the standard error of the mean is below 5e-4
    assert mask.mean().item() == pytest.approx(1 - p, abs=2e-3)
    # the four elements read from one 64-bit word, and neighbouring words, are uncorrelated
    flat = mask.flatten() - (1 - p)
    for lag in (1, 2, 3, 4, 5):
        corr = (flat[:-lag] * flat[lag:]).mean().item() / (p * (1 - p))
        assert abs(corr) < 5e-3, (lag, corr)


def test_fast_dropout_scales_kept_elements_and_its_gradient_is_the_mask():
    torch.manual_seed(1)
    x = torch.randn(3, 50, 64, requires_grad=True)
    layer = FastDropout(0.25).train()
    torch.manual_seed(2)
    y = layer(x)
    kept = y != 0
    assert 0.6 < kept.float().mean().item() < 0.9
    torch.testing.assert_close(y[kept], x[kept] / 0.75)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.75)
    torch.manual_seed(2)
    assert torch.equal(layer(x), y)  # seeded by torch.manual_seed
    assert torch.equal(layer.eval()(x), x)  # eval: identity
    assert torch.equal(FastDropout(0.0).train()(x), x)


def test_lora_gets_the_fast_dropout_fresh_and_when_loaded(tmp_path):
    cfg = tiny_cfg("lora.dropout=0.05")  # (the tiny default has none: PEFT then puts an Identity)
    model = build_model(cfg, stage="finetune", dim_in=64, encoder_id="esm2:tiny:test")  # fresh LoRA
    out = save_checkpoint(model, cfg, tmp_path / "stage2")
    loaded, _ = load_checkpoint(out, stage="finetune")  # the saved LoRA (PEFT's loader), as a resumed stage 2

    for m in (model, loaded):
        dropouts = [
            d
            for mod in m.modules()
            if isinstance(getattr(mod, "lora_dropout", None), nn.ModuleDict)
            for d in mod.lora_dropout.values()
        ]
        assert dropouts and all(type(d) is FastDropout and d.p == cfg.lora.dropout for d in dropouts)
    assert fast_lora_dropout(loaded) == 0  # nothing left to replace
