"""M2TModel: closed gates leave the LLM alone, the splice hits exactly the <delta_P> slots, generation is batched."""

import pytest
import torch
from model_fixtures import open_gates, random_batch, tiny_cfg

from m2t.model import build_model, left_pad


@pytest.fixture(scope="module")
def setup():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    return cfg, build_model(cfg, stage="pretrain", dim_in=64)


def test_closed_gates_leave_the_llm_logits_unchanged(setup):
    cfg, model = setup
    batch = random_batch(model, cfg, ["one answer", "another, longer answer here"], [(30, 30), (12, 13)])
    batch.pop("labels")  # with labels the forward gives the loss alone
    with torch.no_grad():
        ours = model(**batch).logits
        plain = model.llm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-6)


def test_open_gates_change_only_positions_from_the_first_slot_on(setup):
    cfg, model = setup
    batch = random_batch(model, cfg, ["an answer"], [(20, 20)])
    batch.pop("labels")
    first = int((batch["input_ids"][0] == model.delta_token_id).nonzero()[0])
    with torch.no_grad():
        closed = model(**batch).logits
        open_gates(model)
        opened = model(**batch).logits
        open_gates(model, 0.0)
    torch.testing.assert_close(opened[:, :first], closed[:, :first])  # causal: nothing before the slots moves
    assert (opened[:, first:] - closed[:, first:]).abs().max() > 1e-3


def test_splice_writes_each_vector_exactly_at_its_slot_also_with_left_padding(setup):
    cfg, model = setup
    prompts = [model.prompt_ids("Short."), model.prompt_ids("A much longer instruction than the first one.")]
    input_ids, _ = left_pad(prompts, pad_id=model.pad_id)
    media = torch.randn(2, model.num_media_tokens, 64)
    with torch.no_grad():
        embeds = model.splice(input_ids=input_ids, media=media)
        base = model.llm.get_input_embeddings()(input_ids)
    slots = input_ids == model.delta_token_id
    for i in range(2):
        at = slots[i].nonzero().squeeze(1)
        torch.testing.assert_close(embeds[i, at], base[i, at] + media[i])  # in order: slot k gets vector k
        torch.testing.assert_close(embeds[i, ~slots[i]], base[i, ~slots[i]], rtol=0, atol=0)


def test_splice_refuses_a_wrong_number_of_slots(setup):
    _, model = setup
    ids = torch.tensor([model.prompt_ids() + [model.delta_token_id]])  # one slot too many
    with pytest.raises(ValueError, match=r"exactly 8 <delta_P> ids .*got \[9\]"):
        model.splice(input_ids=ids, media=torch.zeros(1, 8, 64))


def test_batched_left_padded_greedy_generation_equals_one_by_one(setup):
    cfg, model = setup
    torch.manual_seed(3)
    open_gates(model, 0.2)
    try:
        lengths = [(25, 25), (9, 10), (17, 16)]
        batch = random_batch(model, cfg, [None] * 3, lengths, seed=5)
        instructions = ["Describe it.", "Describe the effect of this mutation on the protein in detail.", "Why?"]
        kwargs = dict(max_new_tokens=10, temperature=0.0, top_p=1.0)
        model.train()
        together = model.generate(
            wt_emb=batch["wt_emb"],
            wt_mask=batch["wt_mask"],
            mut_emb=batch["mut_emb"],
            mut_mask=batch["mut_mask"],
            instructions=instructions,
            **kwargs,
        )
        assert model.training  # generate restores the mode it found
        alone = []
        for i, (lw, lm) in enumerate(lengths):
            alone += model.generate(
                wt_emb=batch["wt_emb"][i : i + 1, :lw],
                wt_mask=batch["wt_mask"][i : i + 1, :lw],
                mut_emb=batch["mut_emb"][i : i + 1, :lm],
                mut_mask=batch["mut_mask"][i : i + 1, :lm],
                instructions=instructions[i : i + 1],
                **kwargs,
            )
    finally:
        open_gates(model, 0.0)
    assert together == alone
    assert len(set(together)) > 1  # the protein vectors and prompts actually differ per row


def test_sampling_is_reproducible_under_a_seed(setup):
    cfg, model = setup
    batch = random_batch(model, cfg, [None, None], [(10, 10), (12, 12)])
    args = dict(
        wt_emb=batch["wt_emb"],
        wt_mask=batch["wt_mask"],
        mut_emb=batch["mut_emb"],
        mut_mask=batch["mut_mask"],
        max_new_tokens=6,
        temperature=1.0,
        top_p=0.9,
    )
    torch.manual_seed(7)
    first = model.generate(**args)
    torch.manual_seed(7)
    assert model.generate(**args) == first and len(first) == 2
