"""Describer: batched generation equals one-at-a-time, the protein matters, each wild type is encoded once, store reuse."""

from __future__ import annotations

import pytest
from conftest import tiny_config

from m2t.embed.store import EmbeddingStore
from m2t.errors import InputError
from m2t.infer.describer import Describer, finetuned_checkpoint
from m2t.study.variants import protein_zeroed, untrained_checkpoint

WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
OTHER = "MKLVAAGIVALLWQ"


def _mut(seq: str, pos: int, aa: str) -> str:
    return seq[: pos - 1] + aa + seq[pos:]


PAIRS = [(WT, _mut(WT, p, aa)) for p, aa in ((2, "W"), (5, "G"), (9, "P"), (20, "D"))] + [(OTHER, _mut(OTHER, 3, "P"))]


def test_batched_equals_single_and_depends_on_the_protein(tiny_checkpoint, tmp_path):
    d = Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path, "generation.batch_size=3"))
    batched = d.describe(PAIRS)  # 5 pairs: chunks of 3 + 2, different lengths left-padded
    assert batched == [d.describe([p])[0] for p in PAIRS]
    assert len(set(batched)) >= 2  # gates are open: different proteins, different greedy texts


def test_each_wild_type_is_encoded_once(tiny_checkpoint, tmp_path):
    d = Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path))
    d.describe(PAIRS[:2])
    assert (d.encoded_wild_types, d.encoded_mutants) == (1, 2)
    d.describe(PAIRS)  # WT is cached; OTHER is new; all 5 mutants are encoded in this call
    assert (d.encoded_wild_types, d.encoded_mutants, d.encoded_sequences) == (2, 7, 9)
    assert (d.wt_cache.hits, d.wt_cache.misses) == (1, 2)


def test_a_model_that_cannot_read_the_protein_describes_without_the_encoder(tiny_checkpoint, tmp_path):
    d = Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path, "generation.batch_size=3"))
    assert d.reads_protein
    with protein_zeroed(d):  # the adapter's output gate shut: the vectors cannot change the text
        assert not d.reads_protein
        full = d.describe_with_effects(PAIRS)  # effect scores asked for: the encoder runs
        assert d.encoded_sequences == 7 and all(x.effect is not None for x in full)
        assert d.describe(PAIRS) == [x.text for x in full]  # the same text with zero vectors ...
        assert d.encoded_sequences == 7  # ... and no encoder pass
    d.describe(PAIRS[:1])  # the gate open again: encoded (its wild type is cached, its mutant is not)
    assert d.encoded_sequences == 8

    text_cfg = tiny_config(tmp_path, "model.use_protein=false", "generation.batch_size=3")
    text_only = Describer(checkpoint=untrained_checkpoint(text_cfg, tmp_path / "text", stage="finetune"), cfg=text_cfg)
    assert not text_only.reads_protein
    texts = text_only.describe(PAIRS)
    assert text_only.encoded_sequences == 0 and len(texts) == len(PAIRS)
    assert [x.text for x in text_only.describe_with_effects(PAIRS)] == texts and text_only.encoded_sequences == 7


def test_store_embeddings_are_used_and_give_the_same_text(tiny_checkpoint, tmp_path):
    cfg = tiny_config(tmp_path)
    fresh = Describer(checkpoint=tiny_checkpoint, cfg=cfg)
    want = fresh.describe(PAIRS)
    seqs = [WT, OTHER, PAIRS[0][1]]
    store = EmbeddingStore.create(
        tmp_path / "store",
        encoder_id=fresh.encoder.encoder_id,
        hidden_size=fresh.encoder.hidden_size,
        dtype=cfg.embed.dtype,
    )
    store.write_shard(seqs, fresh.encoder.embed(seqs))
    store.update_manifest()
    d = Describer(checkpoint=tiny_checkpoint, cfg=cfg, store=tmp_path / "store")
    assert d.describe(PAIRS) == want  # the store holds what training saw: same rounding, same text
    # the store serves 3 embeddings; the 2 wild types still go through the encoder once, for their log-probabilities
    # (the store keeps embeddings only), and so do the 4 mutants it lacks
    assert d.store_hits == 3 and d.encoded_sequences == 2 + 5 - 1


def test_store_of_another_encoder_is_ignored(tiny_checkpoint, tmp_path):
    EmbeddingStore.create(tmp_path / "store", encoder_id="esm2:tiny:other", hidden_size=64, dtype="float16")
    d = Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path), store=tmp_path / "store")
    assert d.store is None


def test_finetuned_checkpoint_names_the_command(tmp_path):
    with pytest.raises(InputError, match=r"does not exist; train one with `m2t pretrain && m2t finetune`"):
        finetuned_checkpoint(tiny_config(tmp_path), tmp_path / "nope")
    with pytest.raises(InputError, match="is not an m2t checkpoint"):
        finetuned_checkpoint(tiny_config(tmp_path), tmp_path)


def test_prompt_facts_derived_or_given_reach_the_prompt(tmp_path):
    """A checkpoint trained with prompt fields: a bare pair states the mutations derived from its sequences, a
    Query states what it gives (and the two prompts of a named protein differ only by that line)."""
    import torch

    from m2t.encoders import tiny_encoder_id
    from m2t.infer.describer import Query
    from m2t.model import build_model, save_checkpoint
    from m2t.model.prompt import PromptFacts

    cfg = tiny_config(tmp_path, "model.prompt_fields=[protein_name,mutation]")
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=64, encoder_id=tiny_encoder_id(cfg.encoder))
    d = Describer(checkpoint=save_checkpoint(model, cfg, tmp_path / "ckpt"), cfg=cfg)
    wt, mut = PAIRS[0]
    assert d.facts(Query(wt, mut)) == PromptFacts(mutations=("K2W",))
    assert d.describe([(wt, mut)]) == d.describe([Query(wt, mut, PromptFacts(mutations=("K2W",)))])
    named = d.facts(Query(wt, mut, PromptFacts(protein_name="Lysozyme C")))
    assert named == PromptFacts(mutations=("K2W",), protein_name="Lysozyme C")
    text = d.model.tokenizer.decode(d.model.prompt_ids(facts=named))
    assert "Protein: Lysozyme C\nMutation: K2W (lysine to tryptophan at position 2)\nDescribe" in text
