"""The user turn: <delta_P>, the configured facts (only those a record has), then the instruction."""

from __future__ import annotations

import pytest
from model_fixtures import tiny_cfg

from m2t.model import build_tokenizer, make_example
from m2t.model.prompt import PromptFacts, facts_of, mutation_text, user_text

FACTS = PromptFacts(
    mutations=("R175H",), protein_name="Cellular tumor antigen p53", function="Acts as a tumor suppressor."
)


def test_no_fields_is_the_seed_framing():
    assert user_text(fields=[], instruction="Describe the effect of this mutation.", facts=FACTS) == (
        "Describe the effect of this mutation."
    )


def test_fields_in_a_fixed_order_each_on_its_line():
    text = user_text(fields=["mutation", "protein_name", "function"], instruction="Describe it.", facts=FACTS)
    assert text.splitlines() == [
        "Protein: Cellular tumor antigen p53",
        "Function: Acts as a tumor suppressor.",
        "Mutation: R175H (arginine to histidine at position 175)",
        "Describe it.",
    ]


def test_the_neighbour_comes_last_and_long_values_are_cut_to_the_word_budget():
    facts = PromptFacts(
        mutations=("R175H",),
        function="Acts as a tumor suppressor in many tumor types; induces growth arrest or apoptosis.",
        neighbour="Loss of DNA binding.",
    )
    text = user_text(fields=["neighbour", "function", "mutation"], instruction="Describe it.", facts=facts, max_words=5)
    assert text.splitlines() == [
        "Function: Acts as a tumor suppressor ...",
        "Mutation: R175H (arginine to histidine at position 175)",
        "Nearest known mutation: Loss of DNA binding.",
        "Describe it.",
    ]
    assert "apoptosis." in user_text(fields=["function"], instruction="x", facts=facts)  # 0 = the whole value
    assert facts_of(neighbour="") == PromptFacts() and facts_of(neighbour="n").neighbour == "n"


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_a_missing_value_is_left_out_never_written_as_none(missing):
    facts = PromptFacts(mutations=("R175H",), protein_name=missing, function=None)
    text = user_text(fields=["protein_name", "function", "mutation"], instruction="Describe it.", facts=facts)
    assert text.splitlines() == ["Mutation: R175H (arginine to histidine at position 175)", "Describe it."]
    assert "None" not in text
    assert facts_of(mutations=None, protein_name=None, function="") == PromptFacts()


def test_mutations_in_words_indels_and_several():
    assert mutation_text(["K20del"]) == "K20del (deletion of the lysine at position 20)"
    assert mutation_text(["K20_A22del"]) == "K20_A22del (deletion of positions 20 to 22 (lysine to alanine))"
    assert (
        mutation_text(["G12_G13insAW"]) == "G12_G13insAW (insertion of alanine-tryptophan between positions 12 and 13)"
    )
    assert mutation_text(["R175H", "G245S"]) == (
        "R175H, G245S (arginine to histidine at position 175; glycine to serine at position 245)"
    )


def test_the_example_states_the_facts_and_supervises_only_the_answer():
    cfg = tiny_cfg("model.prompt_fields=[protein_name,mutation]")
    tok = build_tokenizer(cfg.model)
    with_facts = make_example(tok, cfg.model, "Loss of DNA binding.", FACTS)
    without = make_example(tok, cfg.model, "Loss of DNA binding.")
    prompt = tok.decode(
        [t for t, label in zip(with_facts["input_ids"], with_facts["labels"], strict=True) if label < 0]
    )
    assert "Protein: Cellular tumor antigen p53\nMutation: R175H (arginine to histidine at position 175)" in prompt
    assert "Function" not in prompt  # not configured
    answer = [t for t in with_facts["labels"] if t >= 0]
    assert answer == [t for t in without["labels"] if t >= 0]  # same supervised answer, longer prompt
    assert len(with_facts["input_ids"]) > len(without["input_ids"])
