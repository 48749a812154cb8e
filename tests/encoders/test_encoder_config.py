"""The encoder config section and the builder reject what the backends cannot run, before any download."""

import pytest
import torch

from m2t.config import ConfigError, EncoderConfig, load_config
from m2t.encoders import build_encoder
from m2t.encoders.base import resolve_device_dtype


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["encoder.tiny.d_model=36"],
            r"'encoder.tiny'.*d_model \(36\) must split into n_heads \(4\) heads of even width",
        ),
        (
            ["encoder.backend=esm3", "encoder.tiny.d_model=20", "encoder.tiny.n_heads=2"],
            r"'encoder'.*tiny.d_model \(20\) must be a multiple of 8 for ESM3",
        ),
        (
            ["encoder.backend=esm3", "encoder.device=cpu", "encoder.dtype=bfloat16"],
            r"'encoder'.*ESM3 runs in bfloat16 only on CUDA",
        ),
        (["encoder.backend=esmc", "encoder.tiny.v_heads=8"], r"'encoder'.*tiny.v_heads is an ESM3 setting"),
        (["encoder.name=tiny"], r"'encoder'.*name 'tiny' is not a UniRep model: use one of 64, 256, 1900"),
        (["encoder.name=128"], r"name '128' is not a UniRep model"),
        (["encoder.dtype=bfloat16"], r"UniRep runs in float32"),
        (["encoder.name=1900", "encoder.layer=2"], r"layer 2: UniRep-1900 has 1 layer\(s\)"),
        (["encoder.layer=5"], r"layer 5: UniRep-64 has 4 layer\(s\)"),
        (["encoder.backend=esm2", "encoder.layer=1"], r"layer is a UniRep setting"),
    ],
)
def test_config_rejects_twins_the_backend_cannot_build(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_esm3_twin_takes_its_vector_heads_and_names_them():
    cfg = load_config(None, ["encoder.backend=esm3", "encoder.tiny.v_heads=8"]).encoder
    encoder = build_encoder(cfg)
    assert encoder.encoder_id == "esm3:tiny:d64-l2-h4-v8-seed0"
    assert encoder.model.transformer.blocks[0].geom_attn.v_heads == 8
    without = load_config(None, ["encoder.backend=esm3"]).encoder
    assert build_encoder(without).encoder_id == "esm3:tiny:d64-l2-h4-seed0"  # unchanged without


def test_default_config_builds_its_encoder():
    default = load_config(None).encoder
    assert (default.backend, default.name) == ("unirep", "64")  # real weights: a trained model, not a random twin
    encoder = build_encoder(default)
    assert (encoder.encoder_id, encoder.hidden_size, encoder.random_weights) == ("unirep:64", 64, False)
    assert load_config(None, ["encoder.backend=esm2"]).encoder.name == "tiny"  # an ESM backend's default: its twin


@pytest.mark.parametrize(
    ("backend", "name", "message"),
    [
        ("esmc", "esmc_100m", r"'esmc_100m' is not an ESM C model: use one of esmc_300m, esmc_600m or 'tiny'"),
        ("esm3", "esmc_300m", r"'esmc_300m' is not an ESM3 model: use 'esm3_sm_open_v1'"),
        ("esm3", "esm3_large", r"'esm3_large' is not an ESM3 model"),
    ],
)
def test_unknown_sdk_weights_fail_before_downloading(backend, name, message):
    with pytest.raises(ValueError, match=message):
        build_encoder(EncoderConfig(backend=backend, name=name, device="cpu"))


def test_device_and_dtype_resolution():
    assert resolve_device_dtype("cpu", "auto") == (torch.device("cpu"), torch.float32)
    assert resolve_device_dtype("cpu", "bfloat16") == (torch.device("cpu"), torch.bfloat16)
    gpu = torch.cuda.is_available()
    assert resolve_device_dtype("auto", "auto") == (
        (torch.device("cuda"), torch.bfloat16) if gpu else (torch.device("cpu"), torch.float32)
    )
    if not gpu:
        with pytest.raises(ValueError, match=r"encoder.device is 'cuda' but no GPU is visible"):
            resolve_device_dtype("cuda", "auto")
