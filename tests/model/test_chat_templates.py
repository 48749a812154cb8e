"""Nothing in m2t assumes Llama-3: every chat-format rule runs with the tiny Llama-3-style template and with
SmolLM2's ChatML (the real converted tokenizer): end-of-turn token, pad token, system turn, label mask,
right/left padding, refusal of a template without an end-of-turn token, and generation stopping."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from model_fixtures import tiny_cfg

from m2t.config import Config
from m2t.model import build_model, build_tokenizer, collate, end_of_turn_id, left_pad, make_example, prompt_ids
from m2t.model.batching import IGNORE
from m2t.model.tokenizer import add_m2t_tokens

TEXT = "Arginine 175 is replaced by histidine (R175H), which abolishes DNA binding."
PLAIN_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"


@dataclass
class Chat:
    cfg: Config
    tok: object
    eot: str  # what the template writes after an assistant message
    system_header: str
    assistant_header: str


@pytest.fixture(scope="module", params=["llama3", "chatml"])
def chat(request) -> Chat:
    if request.param == "llama3":
        cfg = tiny_cfg()
        return Chat(
            cfg,
            build_tokenizer(cfg.model),
            "<|eot_id|>",
            "<|start_header_id|>system<|end_header_id|>",
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        )
    cfg = tiny_cfg(f"model.llm={request.getfixturevalue('smollm2_dir')}")
    return Chat(cfg, build_tokenizer(cfg.model), "<|im_end|>", "<|im_start|>system\n", "<|im_start|>assistant\n")


def test_end_of_turn_is_the_special_token_the_template_writes_after_an_answer(chat):
    eot = end_of_turn_id(chat.tok)
    assert chat.tok.convert_ids_to_tokens(eot) == chat.eot
    if chat.eot == "<|im_end|>":
        assert eot == chat.tok.eos_token_id == 2  # SmolLM2's GGUF: eos <|im_end|>, not <|im_start|>


def test_pad_is_a_dedicated_token(chat):
    tok, delta = chat.tok, chat.tok.convert_tokens_to_ids(chat.cfg.model.delta_token)
    assert tok.pad_token_id not in {tok.unk_token_id, tok.eos_token_id, tok.bos_token_id, end_of_turn_id(tok), delta}
    assert tok.pad_token_id not in make_example(tok, chat.cfg.model, TEXT)["input_ids"]
    if chat.eot == "<|im_end|>":  # the GGUF's pad (2, = eos) is replaced by a new token after <delta_P>
        assert (delta, tok.pad_token_id, len(tok)) == (49152, 49153, 49154)


def test_the_prompt_holds_one_system_turn_and_it_is_ours(chat):
    tok, model_cfg = chat.tok, chat.cfg.model
    text = tok.decode(make_example(tok, model_cfg, None)["input_ids"])
    assert text.count(chat.system_header) == 1 and f"{chat.system_header}" in text
    assert model_cfg.system_prompt in text and "SmolLM" not in text
    assert text.endswith(chat.assistant_header)
    if chat.eot == "<|im_end|>":  # without a system turn ChatML would insert its own default one
        assert "named SmolLM" in tok.apply_chat_template([{"role": "user", "content": "u"}], tokenize=False)


def test_labels_supervise_the_answer_and_its_end_of_turn_as_the_template_writes_them(chat):
    tok, model_cfg = chat.tok, chat.cfg.model.model_copy(update={"num_media_tokens": 1})
    ex = make_example(tok, model_cfg, f" {TEXT}  ")
    n = len(make_example(tok, model_cfg, None)["input_ids"])
    assert ex["labels"][:n] == [IGNORE] * n
    answer = ex["labels"][n:]
    assert answer == ex["input_ids"][n:] and answer[-1] == end_of_turn_id(tok)
    assert tok.decode(answer[:-1]) == TEXT
    messages = [
        {"role": "system", "content": model_cfg.system_prompt},
        {"role": "user", "content": f"{model_cfg.delta_token}\n{model_cfg.instruction}"},
        {"role": "assistant", "content": TEXT},
    ]
    full = tok.apply_chat_template(messages, tokenize=True)  # the template's own rendering of the conversation
    assert full[: len(ex["input_ids"])] == ex["input_ids"]


def test_right_padding_for_training_and_left_padding_for_generation(chat):
    tok, model_cfg, pad = chat.tok, chat.cfg.model, chat.tok.pad_token_id
    a, b = make_example(tok, model_cfg, "Loss."), make_example(tok, model_cfg, TEXT)
    for ex in (a, b):
        ex["wt_emb"], ex["mut_emb"] = torch.ones(4, 3), torch.ones(4, 3)
    batch = collate([a, b], pad_id=pad)
    la, lb = len(a["input_ids"]), len(b["input_ids"])
    assert batch["input_ids"][0, la:].eq(pad).all() and batch["labels"][0, la:].eq(IGNORE).all()
    assert batch["attention_mask"].sum(1).tolist() == [la, lb] and batch["attention_mask"][0, :la].all()
    assert batch["input_ids"].eq(pad).sum() == lb - la  # the pad id marks padding only
    assert batch["labels"].eq(end_of_turn_id(tok)).sum(1).tolist() == [1, 1]  # each answer's end-of-turn supervised
    args = dict(system_prompt=model_cfg.system_prompt, delta_token=model_cfg.delta_token, num_media_tokens=2)
    short, long = (prompt_ids(tok, user=i, **args) for i in ("Describe it.", f"Describe it: {TEXT}"))
    ids, mask = left_pad([short, long], pad_id=pad)
    k = len(long) - len(short)
    assert ids[0, :k].eq(pad).all() and ids[0, k:].tolist() == short and mask[0].tolist() == [0] * k + [1] * len(short)
    assert ids[1].tolist() == long and mask[1].all()


def test_a_template_without_an_end_of_turn_token_is_refused(chat, tmp_path):
    tok = copy.deepcopy(chat.tok)
    tok.chat_template = PLAIN_TEMPLATE
    with pytest.raises(ValueError, match="writes '\\\\n' after an assistant message, not a special token"):
        end_of_turn_id(tok)
    with pytest.raises(ValueError, match="end-of-turn token"):
        add_m2t_tokens(tok, chat.cfg.model.delta_token)
    if chat.eot == "<|im_end|>":  # through model.llm: the error names the directory
        tok.save_pretrained(tmp_path)
        with pytest.raises(ValueError, match=f"tokenizer '{tmp_path}'"):
            build_tokenizer(tiny_cfg(f"model.llm={tmp_path}").model)


@pytest.mark.slow
def test_greedy_generation_stops_at_the_end_of_turn(chat, one_torch_thread):
    """Each answer ends with the end-of-turn id followed only by pad ids, or runs to max_new_tokens; the real
    ChatML model ends its one-word answer early (greedy, fixed seeds)."""
    torch.manual_seed(0)  # the resized embedding rows (<delta_P>, pad) are drawn at random
    model = build_model(chat.cfg, stage="pretrain", dim_in=16)
    g = torch.Generator().manual_seed(0)
    emb, mask = torch.randn(2, 30, 16, generator=g), torch.ones(2, 30, dtype=torch.bool)
    args = dict(
        wt_emb=emb,
        wt_mask=mask,
        mut_emb=emb,
        mut_mask=mask,
        max_new_tokens=48,
        instructions=["Describe the effect of this mutation.", "Name one amino acid. Answer with one word."],
    )
    ids = model.generate_ids(**args)
    eot, pad = end_of_turn_id(model.tokenizer), model.tokenizer.pad_token_id
    assert ids.shape[0] == 2 and ids.shape[1] <= 48
    stopped = 0
    for row in ids.tolist():
        if eot in row:
            stopped += 1
            assert set(row[row.index(eot) + 1 :]) <= {pad}
        else:
            assert len(row) == 48
    assert model.generate(**args) == [t.strip() for t in model.tokenizer.batch_decode(ids, skip_special_tokens=True)]
    if chat.eot == "<|im_end|>":
        assert stopped >= 1
