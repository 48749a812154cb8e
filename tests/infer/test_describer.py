"""Describer: batched generation equals one-at-a-time, the protein matters, each wild type is encoded once, store reuse."""

from __future__ import annotations

import pytest
from conftest import tiny_config

from m2t.embed.store import EmbeddingStore
from m2t.errors import InputError
from m2t.infer.describer import Describer, finetuned_checkpoint

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
    assert d.store_hits == 3 and d.encoded_sequences == 2 + 5 - 3


def test_store_of_another_encoder_is_ignored(tiny_checkpoint, tmp_path):
    EmbeddingStore.create(tmp_path / "store", encoder_id="esm2:tiny:other", hidden_size=64, dtype="float16")
    d = Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path), store=tmp_path / "store")
    assert d.store is None


def test_finetuned_checkpoint_names_the_command(tmp_path):
    with pytest.raises(
        InputError, match=r"does not exist; train one with `python jobs/pretrain.py && python jobs/finetune.py`"
    ):
        finetuned_checkpoint(tiny_config(tmp_path), tmp_path / "nope")
    with pytest.raises(InputError, match="is not an m2t checkpoint"):
        finetuned_checkpoint(tiny_config(tmp_path), tmp_path)
