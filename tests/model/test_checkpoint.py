"""Checkpoints: self-describing, strict, no base weights, no pickle; save -> load gives identical logits."""

import json

import peft
import pytest
import torch
from model_fixtures import open_gates, random_batch, save_local_llm, tiny_cfg
from safetensors.torch import load_file, save_file

from m2t.errors import InputError, MismatchError
from m2t.model import build_model, load_checkpoint, save_checkpoint, trained_config
from m2t.model.llm import build_llm


def _perturb(model, *, seed: int) -> None:
    """Stand-in for training: move every trainable weight, and open the gates."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    open_gates(model, 0.1)


def _logits(model, batch) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = build_model(cfg, stage="pretrain", dim_in=64, encoder_id="esm2:tiny:test")
    _perturb(model, seed=1)
    out = save_checkpoint(model, cfg, tmp_path_factory.mktemp("stage1"))
    batch = random_batch(model, cfg, ["some answer", "a longer answer than that"], [(20, 19), (11, 11)])
    return cfg, model, out, batch


def test_stage1_checkpoint_layout_and_identical_logits(stage1):
    cfg, model, out, batch = stage1
    assert sorted(p.name for p in out.iterdir()) == ["adapter.safetensors", "m2t_model.json", "tokenizer"]
    meta = json.loads((out / "m2t_model.json").read_text())
    assert meta["stage"] == "pretrain" and meta["builder"]["encoder_id"] == "esm2:tiny:test"
    assert meta["builder"]["dim_in"] == 64 and meta["config"]["model"]["num_media_tokens"] == 8
    assert set(load_file(out / "adapter.safetensors")) == set(model.adapter.state_dict())  # adapter only
    loaded, loaded_cfg = load_checkpoint(out, stage="pretrain")
    assert loaded_cfg == cfg
    torch.testing.assert_close(_logits(loaded, batch), _logits(model, batch), rtol=0, atol=0)
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == {
        n for n, _ in loaded.named_parameters() if n.startswith("adapter.")
    }


def test_stage2_checkpoint_roundtrip_peft_format_and_merged_export(stage1, tmp_path):
    cfg, _, out1, batch = stage1
    model, _ = load_checkpoint(out1, stage="finetune")  # stage 1 -> stage 2: fresh LoRA (B = 0)
    _perturb(model, seed=2)
    expected = _logits(model, batch)
    out2 = save_checkpoint(model, cfg, tmp_path / "stage2")
    lora_files = sorted(p.name for p in (out2 / "lora").iterdir())
    assert lora_files == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert all("lora_" in k for k in load_file(out2 / "lora" / "adapter_model.safetensors"))  # no base weights

    resumed, _ = load_checkpoint(out2, stage="finetune")
    assert isinstance(resumed.llm, peft.PeftModel)
    torch.testing.assert_close(_logits(resumed, batch), expected, rtol=0, atol=0)

    merged, _ = load_checkpoint(out2, stage="infer")
    assert not isinstance(merged.llm, peft.PeftModel) and not merged.training
    torch.testing.assert_close(_logits(merged, batch), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="merged into the base weights"):
        save_checkpoint(merged, cfg, tmp_path / "merged")

    # PEFT's own loader reads the lora/ directory onto a fresh base
    base, _ = build_llm(cfg.model, model.tokenizer)
    plain = peft.PeftModel.from_pretrained(base, out2 / "lora").eval()
    ids = batch["input_ids"][:, :20]
    with torch.no_grad():
        torch.testing.assert_close(plain(input_ids=ids).logits, model.llm(input_ids=ids).logits)


def test_loading_is_strict(stage1, tmp_path):
    _, model, out, _ = stage1
    with pytest.raises(MismatchError, match="encoder/store is 'esm3:other'"):
        load_checkpoint(out, stage="infer", encoder_id="esm3:other")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("m2t_model.json",):
        (broken / f).write_bytes((out / f).read_bytes())
    (broken / "tokenizer").symlink_to(out / "tokenizer")
    weights = load_file(out / "adapter.safetensors")
    weights.pop("resampler.latents")
    save_file(weights, broken / "adapter.safetensors")
    with pytest.raises(MismatchError, match="Missing key.*resampler.latents"):
        load_checkpoint(broken, stage="infer")
    with pytest.raises(InputError, match=r"is not an m2t checkpoint \(no m2t_model.json\)"):
        load_checkpoint(tmp_path, stage="infer")


def test_resized_vocabulary_rows_are_saved_and_restored(tmp_path):
    cfg = tiny_cfg(f"model.llm={save_local_llm(tmp_path / 'hub')}")
    model = build_model(cfg, stage="pretrain", dim_in=64)
    assert len(model.new_token_ids) == 2
    _perturb(model, seed=3)
    with torch.no_grad():  # rows a rebuild cannot reproduce (transformers' resize draws them near the mean)
        model.llm.get_input_embeddings().weight[model.new_token_ids] = torch.randn(2, 32)
        model.llm.get_output_embeddings().weight[model.new_token_ids] = torch.randn(2, 32)
    batch = random_batch(model, cfg, ["answer"], [(9, 9)])
    out = save_checkpoint(model, cfg, tmp_path / "ckpt")
    rows = load_file(out / "new_token_rows.safetensors")
    assert rows["input_embeddings"].shape == (2, 32)
    loaded, _ = load_checkpoint(out, stage="infer")
    torch.testing.assert_close(_logits(loaded, batch), _logits(model, batch), rtol=0, atol=0)


def test_a_moved_setting_is_read_at_its_new_place_and_an_unreadable_config_is_a_mismatch(stage1, tmp_path):
    """Checkpoints saved when the padding cap was ``embed.max_padding`` still load; a config this version
    cannot read names the file instead of raising a validation traceback."""
    cfg, _, out, _ = stage1
    old = tmp_path / "old"
    old.mkdir()
    (old / "tokenizer").symlink_to(out / "tokenizer")
    (old / "adapter.safetensors").symlink_to(out / "adapter.safetensors")
    meta = json.loads((out / "m2t_model.json").read_text())
    del meta["config"]["encoder"]["max_padding"]
    meta["config"]["embed"]["max_padding"] = 0.25
    (old / "m2t_model.json").write_text(json.dumps(meta))
    assert (
        trained_config(old).encoder.max_padding == 0.25 and "max_padding" not in trained_config(old).embed.model_dump()
    )
    _, loaded_cfg = load_checkpoint(old, stage="infer")
    assert loaded_cfg.encoder.max_padding == 0.25

    meta["config"]["model"]["no_such_setting"] = 1
    (old / "m2t_model.json").write_text(json.dumps(meta))
    with pytest.raises(
        MismatchError, match=r"does not fit m2t (?s:.*)old/m2t_model.json: unknown key 'model.no_such_setting'"
    ):
        trained_config(old)
