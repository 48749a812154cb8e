"""Examples and batches: <delta_P> expanded in the chat prompt, only the answer + end-of-turn supervised, padding."""

import pytest
import torch
from model_fixtures import tiny_cfg

from m2t.model import build_tokenizer, collate, end_of_turn_id, left_pad, make_example
from m2t.model.batching import IGNORE


@pytest.fixture(scope="module")
def setup():
    cfg = tiny_cfg()
    return cfg, build_tokenizer(cfg.model)


def test_labels_supervise_exactly_the_answer_and_end_of_turn(setup):
    cfg, tok = setup
    text = "Arginine 175 is replaced by histidine, which abolishes DNA binding."
    ex = make_example(tok, cfg.model, f"  {text} ")
    prompt = make_example(tok, cfg.model, None)["input_ids"]
    n = len(prompt)
    assert ex["input_ids"][:n] == prompt  # the training prompt is the generation prompt
    assert ex["labels"][:n] == [IGNORE] * n
    answer = ex["labels"][n:]
    assert IGNORE not in answer and answer == ex["input_ids"][n:]
    assert answer[-1] == end_of_turn_id(tok)
    assert tok.decode(answer[:-1]) == text
    assert tok.decode(prompt).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_delta_token_is_expanded_to_num_media_tokens_consecutive_ids(setup):
    cfg, tok = setup
    ids = make_example(tok, cfg.model, "x")["input_ids"]
    delta = tok.convert_tokens_to_ids(cfg.model.delta_token)
    at = [i for i, t in enumerate(ids) if t == delta]
    assert len(at) == cfg.model.num_media_tokens == 8
    assert at == list(range(at[0], at[0] + 8))
    text = tok.decode(ids)
    assert "user<|end_header_id|>\n\n" + "<delta_P>" * 8 + "\n" + cfg.model.instruction in text


def test_delta_token_inside_the_prompt_text_is_refused(setup):
    cfg, tok = setup
    bad = tiny_cfg("model.system_prompt=Look at <delta_P>.").model
    with pytest.raises(ValueError, match="exactly once, found 2"):
        make_example(tok, bad, "x")


def test_collate_right_pads_tokens_and_residues(setup):
    cfg, tok = setup
    a, b = make_example(tok, cfg.model, "short"), make_example(tok, cfg.model, "a much longer answer than the other")
    a["wt_emb"], a["mut_emb"] = torch.ones(5, 3), torch.ones(4, 3)  # a deletion: 4 mutant residues
    b["wt_emb"], b["mut_emb"] = torch.full((2, 3), 2.0).numpy(), torch.full((2, 3), 2.0).half()
    batch = collate([a, b], pad_id=tok.pad_token_id)
    la, lb = len(a["input_ids"]), len(b["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (2, lb)
    assert batch["input_ids"][0, la:].eq(tok.pad_token_id).all() and batch["labels"][0, la:].eq(IGNORE).all()
    assert batch["attention_mask"].sum(1).tolist() == [la, lb]
    assert batch["input_ids"][0, :la].tolist() == a["input_ids"]
    assert batch["wt_emb"].shape == (2, 5, 3) and batch["mut_emb"].shape == (2, 4, 3)
    assert batch["wt_emb"].dtype == torch.float32
    assert batch["wt_mask"].tolist() == [[True] * 5, [True, True, False, False, False]]
    assert batch["mut_mask"].sum(1).tolist() == [4, 2]
    assert batch["wt_emb"][1, 2:].abs().max() == 0 and batch["mut_emb"][1, :2].eq(2).all()


def test_left_pad_for_generation():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
