"""Tokenizers: the tiny BPE is deterministic across processes, has Llama-3 specials, a real pad and a chat template."""

import hashlib
import subprocess
import sys

import pytest
from model_fixtures import save_local_llm, tiny_cfg
from transformers import AutoTokenizer

from m2t.model import build_tokenizer, end_of_turn_id
from m2t.model.tokenizer import PAD, add_m2t_tokens

HASH = (
    "from m2t.config import load_config; from m2t.model import build_tokenizer; import hashlib; "
    "print(hashlib.sha256(build_tokenizer(load_config().model).backend_tokenizer.to_str().encode()).hexdigest())"
)


def test_tiny_tokenizer_is_identical_in_a_fresh_process():
    here = hashlib.sha256(build_tokenizer(tiny_cfg().model).backend_tokenizer.to_str().encode()).hexdigest()
    there = subprocess.run([sys.executable, "-c", HASH], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there


def test_tiny_tokenizer_specials_and_template():
    cfg = tiny_cfg()
    tok = build_tokenizer(cfg.model)
    assert len(tok) <= cfg.model.tiny_llm.vocab_size
    assert tok.pad_token == PAD and tok.pad_token_id not in (tok.unk_token_id, tok.eos_token_id, tok.bos_token_id)
    assert len(tok.tokenize(cfg.model.delta_token)) == 1
    assert tok.convert_ids_to_tokens(end_of_turn_id(tok)) == "<|eot_id|>"
    text = tok.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U "}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    text = "Histidine replaces arginine."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_hub_tokenizer_gets_delta_and_a_dedicated_pad(tmp_path):
    tok = AutoTokenizer.from_pretrained(save_local_llm(tmp_path))
    before = len(tok)
    assert tok.pad_token is None
    add_m2t_tokens(tok, "<delta_P>")
    assert len(tok) == before + 2
    assert tok.pad_token == PAD and tok.pad_token_id != tok.eos_token_id
    assert tok.tokenize("x<delta_P>y")[1] == "<delta_P>"


def test_reserved_llama31_pad_is_reused(tmp_path):
    tok = AutoTokenizer.from_pretrained(save_local_llm(tmp_path, with_pad=True))
    before = len(tok)
    add_m2t_tokens(tok, "<delta_P>")
    assert len(tok) == before + 1 and tok.pad_token == PAD  # only <delta_P> is new


def test_tokenizer_without_chat_template_is_refused(tmp_path):
    tok = AutoTokenizer.from_pretrained(save_local_llm(tmp_path))
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        add_m2t_tokens(tok, "<delta_P>")
