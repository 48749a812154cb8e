"""decode: generate's greedy text, with each answer leaving the batch the step it ends."""

import pytest
import torch
from model_fixtures import open_gates, random_batch, tiny_cfg
from transformers import LogitsProcessor, LogitsProcessorList

from m2t.model import build_model, left_pad
from m2t.model.decode import decode, processors

INSTRUCTIONS = ["Describe it.", "Describe the effect of this mutation on the protein in detail.", "Why?"]


@pytest.fixture(scope="module")
def setup():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = build_model(cfg, stage="pretrain", dim_in=64).eval()
    open_gates(model, 0.2)
    batch = random_batch(model, cfg, [None] * 3, [(25, 25), (9, 10), (17, 16)], seed=5)
    protein = {k: batch[k] for k in ("wt_emb", "wt_mask", "mut_emb", "mut_mask")}
    ids, mask = left_pad([model.prompt_ids(i) for i in INSTRUCTIONS], pad_id=model.pad_id)  # prompts of 3 lengths
    with torch.no_grad():
        embeds = model.input_embeds(input_ids=ids, **protein)  # (3, t, d)
    return model, protein, embeds, mask


def greedy(model, embeds, mask, *, steps: int, stops=(), processor=None) -> torch.Tensor:
    """``decode`` without sampling; ``processor`` defaults to a repetition penalty of 1.3."""
    return decode(
        model.llm,
        inputs_embeds=embeds,
        attention_mask=mask,
        max_new_tokens=steps,
        stop_ids=list(stops),
        pad_id=model.pad_id,
        logits_processor=processor or processors(temperature=None, top_p=None, repetition_penalty=1.3),
        sample=False,
    )


def stops_that_end_rows_apart(model, embeds, mask, steps: int) -> list[int]:
    """Two token ids the greedy answers write at different steps, so that the three rows end apart (one at the
    limit)."""
    free = greedy(model, embeds, mask, steps=steps).tolist()  # (3, steps)
    for a in free[0][1:]:
        for b in free[2][1:]:
            ends = [min([row.index(t) for t in (a, b) if t in row], default=steps) for row in free]
            if len(set(ends)) == 3 and max(ends) == steps:
                return [a, b]
    raise AssertionError(f"no two tokens end these rows apart: {free}")


def test_greedy_decode_writes_generates_ids_with_left_padding_a_penalty_and_stops(setup):
    model, _, embeds, mask = setup
    stops = stops_that_end_rows_apart(model, embeds, mask, steps=12)
    theirs = model.llm.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        max_new_tokens=12,
        do_sample=False,
        repetition_penalty=1.3,
        eos_token_id=stops,
        pad_token_id=model.pad_id,
    )
    ours = greedy(model, embeds, mask, steps=12, stops=stops)
    assert torch.equal(ours, theirs)
    assert torch.isin(ours, torch.tensor(stops)).any(dim=1).sum() == 2  # two rows ended early, apart, then pad ids


def test_a_finished_answer_leaves_the_batch(setup):
    """generate_ids runs only unfinished rows: the batch the LLM sees shrinks as answers end (transformers'
    generate runs all 3 rows in every step)."""
    model, protein, embeds, mask = setup
    stops = stops_that_end_rows_apart(model, embeds, mask, steps=12)
    sizes = []
    hook = model.llm.get_decoder().register_forward_hook(
        lambda _m, _a, kwargs, _out: sizes.append(kwargs["attention_mask"].shape[0]), with_kwargs=True
    )
    eot, eos = model.eot_id, model.tokenizer.eos_token_id
    model.eot_id, model.tokenizer.eos_token_id = stops
    try:
        ids = model.generate_ids(**protein, instructions=INSTRUCTIONS, max_new_tokens=12, repetition_penalty=1.3)
    finally:
        model.eot_id, model.tokenizer.eos_token_id = eot, eos
        hook.remove()
    ends = [min([row.index(t) + 1 for t in stops if t in row], default=12) for row in ids.tolist()]
    assert sizes[0] == 3 and sizes == sorted(sizes, reverse=True) and sizes[-1] < 3
    assert sum(sizes) == sum(ends)  # one row-step per token written, none after an answer ended


def test_the_penalty_and_other_processors_see_the_generated_ids_only_not_the_prompt(setup):
    """The repetition penalty punishes only what was generated, never the prompt's tokens (the protein's name,
    the mutation): the processors get the ids written so far."""
    model, _, embeds, mask = setup
    seen = []

    class Spy(LogitsProcessor):
        def __call__(self, input_ids, scores):
            seen.append(input_ids.clone())
            return scores

    out = greedy(model, embeds[:1], mask[:1], steps=3, processor=LogitsProcessorList([Spy()]))
    assert [s.shape[1] for s in seen] == [0, 1, 2]
    assert torch.equal(seen[2][0], out[0, :2])


def test_decode_refuses_no_new_tokens(setup):
    model, _, embeds, mask = setup
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1"):
        greedy(model, embeds, mask, steps=0)
