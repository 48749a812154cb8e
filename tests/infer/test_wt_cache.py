"""The wild-type LRU cache around the real tiny encoder: one call for the missing sequences, LRU eviction, counters."""

from __future__ import annotations

import pytest
import torch

from m2t.config import load_config
from m2t.encoders import build_encoder
from m2t.infer.cache import EmbeddingLRU


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(load_config().encoder)


@pytest.fixture
def calls(encoder):
    """The tiny encoder's ``embed``, recording the sequences of every call."""
    seen: list[list[str]] = []

    def embed(sequences: list[str]) -> list[torch.Tensor]:
        seen.append(list(sequences))
        return encoder.embed(sequences)

    embed.seen = seen
    return embed


def test_missing_sequences_are_embedded_once_in_one_call_and_returned_in_order(encoder, calls):
    cache = EmbeddingLRU(capacity=4)
    asked = ["MKTAY", "MKT", "MKTAY", "MKTAYIAK"]
    out = cache.get_or_embed(asked, calls)
    assert calls.seen == [["MKTAY", "MKT", "MKTAYIAK"]]
    direct = encoder.embed(asked)
    assert [o.shape for o in out] == [(5, 64), (3, 64), (5, 64), (8, 64)]
    assert all(torch.allclose(o, d, atol=1e-5) for o, d in zip(out, direct, strict=True))
    assert out[0] is out[2]
    assert (cache.hits, cache.misses, len(cache)) == (0, 3, 3)
    again = cache.get_or_embed(["MKT", "MKTAYI"], calls)
    assert calls.seen[-1] == ["MKTAYI"]
    assert again[0] is out[1]
    assert (cache.hits, cache.misses, len(cache)) == (1, 4, 4)


def test_least_recently_used_is_evicted_first(calls):
    cache = EmbeddingLRU(capacity=2)
    for seqs in (["MA"], ["MC"], ["MA"], ["MD"]):  # MA is used again before MD arrives, so MC goes
        cache.get_or_embed(seqs, calls)
    assert "MA" in cache and "MD" in cache and "MC" not in cache
    cache.get_or_embed(["MC"], calls)
    assert calls.seen == [["MA"], ["MC"], ["MD"], ["MC"]]
    assert len(cache) == 2


def test_capacity_zero_never_stores(calls):
    cache = EmbeddingLRU(capacity=0)
    cache.get_or_embed(["MA", "MA"], calls)
    cache.get_or_embed(["MA"], calls)
    assert calls.seen == [["MA"], ["MA"]]
    assert (len(cache), cache.hits, cache.misses) == (0, 0, 2)
