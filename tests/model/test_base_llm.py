"""The base LLM: the tiny Llama is rebuilt bit-identically anywhere; a hub-style model is resized for our tokens."""

import hashlib
import subprocess
import sys

import pytest
import torch
from model_fixtures import save_local_llm, tiny_cfg

from m2t.model import build_tokenizer
from m2t.model.llm import build_llm

HASH = """
import hashlib, torch
from m2t.config import load_config
from m2t.model import build_tokenizer
from m2t.model.llm import build_llm
cfg = load_config()
llm, _ = build_llm(cfg.model, build_tokenizer(cfg.model))
h = hashlib.sha256()
for k, v in sorted(llm.state_dict().items()):
    h.update(k.encode()); h.update(v.contiguous().numpy().tobytes())
print(h.hexdigest())
"""


def _digest(llm) -> str:
    h = hashlib.sha256()
    for k, v in sorted(llm.state_dict().items()):
        h.update(k.encode())
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_tiny_llama_is_bit_identical_in_a_fresh_process_and_leaves_the_rng_alone():
    cfg = tiny_cfg()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    llm, new_ids = build_llm(cfg.model, build_tokenizer(cfg.model))
    torch.testing.assert_close(torch.rand(3), expected_next)  # the global RNG stream is untouched
    there = subprocess.run([sys.executable, "-c", HASH], capture_output=True, text=True, check=True).stdout.strip()
    assert _digest(llm) == there
    assert new_ids == []
    assert llm.config.vocab_size == cfg.model.tiny_llm.vocab_size and llm.config.hidden_size == 64


def test_tiny_llama_seed_changes_the_weights():
    a, _ = build_llm(tiny_cfg().model, build_tokenizer(tiny_cfg().model))
    b, _ = build_llm(tiny_cfg("model.tiny_llm.seed=1").model, build_tokenizer(tiny_cfg().model))
    assert _digest(a) != _digest(b)


def test_vocab_too_small_for_the_tokenizer_is_refused():
    cfg = tiny_cfg()
    tok = build_tokenizer(cfg.model)
    small = tiny_cfg(f"model.tiny_llm.vocab_size={len(tok) - 1}").model
    with pytest.raises(ValueError, match="vocab_size"):
        build_llm(small, tok)


def test_hub_style_model_is_resized_and_new_rows_are_reported(tmp_path):
    cfg = tiny_cfg(f"model.llm={save_local_llm(tmp_path)}")
    tok = build_tokenizer(cfg.model)
    llm, new_ids = build_llm(cfg.model, tok)
    assert tok.convert_ids_to_tokens(new_ids) == ["<delta_P>", "<|finetune_right_pad_id|>"]
    assert llm.get_input_embeddings().weight.shape[0] == len(tok) == new_ids[-1] + 1
    assert llm.get_output_embeddings().weight.shape[0] == len(tok)
    assert llm.config.pad_token_id == tok.pad_token_id
