"""SmolLM2's GGUF as an ordinary Hugging Face directory: the tokenizer's special tokens are the ones its
metadata names (not those transformers 4.48.1 builds), a plain from_pretrained gives the GGUF's logits,
and the conversion happens once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch
from gguf import GGUFReader
from transformers import AutoModelForCausalLM, AutoTokenizer

from m2t.config import REPO_ROOT
from m2t.model import end_of_turn_id
from m2t.model.gguf import MANIFEST, bundled_gguf, is_complete

TEXTS = [
    "Arginine 175 is replaced by histidine (R175H), which abolishes DNA binding.",
    "28-fold decrease in  potency; Cd(II) and Zn²⁺ bind 3 β-sheets.\nA new line,\ta tab and a trailing space ",
    "  leading spaces, <html> & émigré façade — 日本語 1234567890",
]


@pytest.fixture(scope="module")
def gguf_meta(smollm2_dir):
    """The GGUF's tokenizer metadata, read here with the gguf package alone."""
    fields = GGUFReader(bundled_gguf()).fields
    return {key: fields[key].contents() for key in fields if key.startswith("tokenizer.")}


def test_saved_tokenizer_has_the_special_tokens_of_the_gguf_metadata(smollm2_dir, gguf_meta):
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    ids = {name: gguf_meta[f"tokenizer.ggml.{name}_token_id"] for name in ("bos", "eos", "padding", "unknown")}
    assert ids == {"bos": 1, "eos": 2, "padding": 2, "unknown": 0}
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (
        ids["bos"],
        ids["eos"],
        ids["padding"],
        ids["unknown"],
    )
    assert (tok.bos_token, tok.eos_token, tok.unk_token) == ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
    assert tok.get_vocab() == {t: i for i, t in enumerate(gguf_meta["tokenizer.ggml.tokens"])}
    assert tok.chat_template == gguf_meta["tokenizer.chat_template"]
    assert gguf_meta["tokenizer.ggml.add_bos_token"] is False
    for text in TEXTS:
        encoded = tok(text)["input_ids"]  # a plain encode: special tokens as the tokenizer adds them by default
        assert not set(encoded) & set(tok.all_special_ids), text
        assert tok.decode(encoded) == text


def test_plain_encodes_equal_transformers_own_gguf_tokenizer_without_its_bos(smollm2_dir):
    """The same vocabulary and merges as transformers' GGUF tokenizer, without the trap: that one has eos
    <|im_start|> (id 1), no pad, and prepends <|im_start|> to every encode."""
    gguf = bundled_gguf()
    theirs = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    assert (theirs.eos_token_id, theirs.pad_token_id) == (1, None), "transformers' GGUF tokenizer changed"
    assert end_of_turn_id(theirs) == 2  # m2t reads the end of a turn from the chat template, not from eos
    ours = AutoTokenizer.from_pretrained(smollm2_dir)
    for text in TEXTS:
        their_ids = theirs(text)["input_ids"]
        assert their_ids[0] == 1 and their_ids[1:] == ours(text)["input_ids"], text


@pytest.mark.slow
def test_saved_directory_loads_plainly_with_the_logits_of_the_gguf(smollm2_dir):
    gguf = bundled_gguf()
    theirs = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
    ours = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert ours.dtype == torch.float32 and ours.config.tie_word_embeddings
    assert ours.num_parameters() == theirs.num_parameters() == 134_515_008
    gen = ours.generation_config
    assert (gen.bos_token_id, gen.eos_token_id, gen.pad_token_id) == (1, 2, 2)
    ids = tok.apply_chat_template(
        [{"role": "system", "content": "You are an expert protein biologist."}, {"role": "user", "content": TEXTS[0]}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, theirs(ids).logits)


def test_a_second_run_is_a_no_op(smollm2_dir):
    weights = smollm2_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "m2t.model.gguf", "--out", str(smollm2_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"already converted in {smollm2_dir}" in out
    assert weights.stat().st_mtime_ns == before and time.time() - started < 60


def test_only_a_complete_conversion_of_the_same_gguf_counts(smollm2_dir, tmp_path):
    manifest = json.loads((smollm2_dir / MANIFEST).read_text())
    sha = manifest["source_sha256"]
    assert is_complete(smollm2_dir, source_sha256=sha)
    assert not is_complete(smollm2_dir, source_sha256="0" * 64)  # made from another GGUF
    half = tmp_path / "half"
    half.mkdir()
    for name in manifest["files"]:
        if name != "model.safetensors":
            shutil.copy(smollm2_dir / name, half / name)
    (half / "model.safetensors").write_bytes(b"torn")
    assert not is_complete(half, source_sha256=sha)  # the manifest is written last
    shutil.copy(smollm2_dir / MANIFEST, half / MANIFEST)
    assert not is_complete(half, source_sha256=sha)  # weights shorter than the manifest says
    (half / "model.safetensors").unlink()
    assert not is_complete(half, source_sha256=sha)
