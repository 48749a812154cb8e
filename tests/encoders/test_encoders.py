"""Encoders on their tiny twins: padding never changes outputs, BOS/EOS stripped, budgeted batching,
fixed weights per seed, mutations visible at their site, clear errors."""

import pytest
import torch

from m2t.config import EncoderConfig, TinyEncoderConfig
from m2t.encoders import ProteinEncoder, build_encoder, with_runtime
from m2t.encoders.base import micro_batches

BACKENDS = ["esm2", "esmc", "esm3"]
WT = "MKTAYIAKQRQISFVKSHFSRQ"
SEQS = [WT, "MKT", "MKTAYIAKQRQ", "ACDEFGHIKLMNPQRSTVWY" * 3, "XBZUOMKT"]

# First residue's first 4 dims and last residue's first 2 dims of embed(["MKTAYIAKQR"]), default tiny twin
# (d64-l2-h4-seed0), computed once in another process: the encoder_id promises exactly these weights.
FIXED = {
    "esm2": ([-1.732764, 1.029880, 0.631085, -0.129967], [0.270261, -0.555750]),
    "esmc": ([-0.457693, 0.614059, 0.153544, 0.910108], [0.322683, -0.320466]),
    "esm3": ([-3.540554, 4.374602, 0.347910, -0.888968], [-2.832724, 3.108685]),
}


@pytest.fixture(scope="module", params=BACKENDS)
def encoder(request):
    return build_encoder(EncoderConfig(backend=request.param, device="cpu"))


def test_protocol_and_identity(encoder):
    assert isinstance(encoder, ProteinEncoder)
    backend = encoder.encoder_id.split(":")[0]
    assert encoder.encoder_id == f"{backend}:tiny:d64-l2-h4-seed0"
    assert (encoder.hidden_size, encoder.max_length) == (64, 1022)
    assert (encoder.device, encoder.dtype) == (torch.device("cpu"), torch.float32)
    assert (encoder.token_budget, encoder.max_padding) == (8192, 0.1)  # the config's batching


def test_with_runtime_keeps_the_trained_weights_and_takes_how_to_run():
    trained = EncoderConfig(
        backend="esmc",
        tiny=TinyEncoderConfig(d_model=32, n_layers=1, n_heads=2, seed=3),
        token_budget=512,
        max_padding=0.5,
    )
    run = EncoderConfig(backend="esm2", device="cpu", dtype="float32", token_budget=4096, max_padding=0.2)
    merged = with_runtime(trained, run)
    assert (merged.backend, merged.name, merged.tiny) == ("esmc", "tiny", trained.tiny)
    assert (merged.device, merged.dtype, merged.token_budget, merged.max_padding) == ("cpu", "float32", 4096, 0.2)
    built = build_encoder(merged)
    assert (built.encoder_id, built.token_budget, built.max_padding) == ("esmc:tiny:d32-l1-h2-seed3", 4096, 0.2)


def test_batched_equals_one_at_a_time(encoder, monkeypatch):
    monkeypatch.setattr(encoder, "max_padding", 1.0)  # no padding cap: everything shares one micro-batch
    before = encoder.forward_calls
    batched = encoder.embed(SEQS)  # one micro-batch: "MKT" padded to 62 tokens next to the 60-residue one
    assert encoder.forward_calls - before == 1
    single = [encoder.embed([s])[0] for s in SEQS]
    for b, s, seq in zip(batched, single, SEQS, strict=True):
        assert b.shape == (len(seq), 64) and b.dtype == torch.float32 and b.device.type == "cpu"  # BOS/EOS stripped
        torch.testing.assert_close(b, s, atol=1e-5, rtol=1e-4)


def test_tokenize_gives_the_vocabulary_ids(encoder):
    """The residue lookup table agrees with the tokenizer's own vocabulary for every accepted letter."""
    letters = "ACDEFGHIKLMNPQRSTVWYXBZUO"
    tok = encoder.tokenizer
    expected = [tok.cls_token_id, *tok.convert_tokens_to_ids(list(letters)), tok.eos_token_id]
    assert encoder.tokenize(letters).tolist() == expected
    assert tok.unk_token_id not in expected[1:-1] and len(set(expected[1:-1])) == len(letters)


def test_bos_and_eos_are_stripped(encoder):
    (emb,) = encoder.embed(["MKTAYIAKQR"])
    ids = encoder.tokenize("MKTAYIAKQR")[None]  # (1, 12)
    with torch.inference_mode():
        full = encoder.forward_hidden(ids, torch.ones_like(ids, dtype=torch.bool))[0]  # (12, d)
    torch.testing.assert_close(emb, full[1:-1], atol=1e-6, rtol=1e-5)


def test_outputs_are_in_input_order_and_own_their_storage(encoder):
    out = encoder.embed(SEQS)
    assert [e.shape[0] for e in out] == [len(s) for s in SEQS]
    assert len({e.untyped_storage().data_ptr() for e in out}) == len(out)  # no view into a batch tensor


def test_token_budget_and_padding_cap_split_batches(encoder, monkeypatch):
    monkeypatch.setattr(encoder, "max_padding", 1.0)
    monkeypatch.setattr(encoder, "token_budget", 48)
    expected = micro_batches([len(s) for s in SEQS], 48)
    assert expected == [[1, 4, 2], [0], [3]]  # 3 × (11 + 2) = 39 tokens fit; 22 and 60 residues run alone
    before = encoder.forward_calls
    budgeted = encoder.embed(SEQS)
    assert encoder.forward_calls - before == 3
    monkeypatch.setattr(encoder, "token_budget", 8192)
    monkeypatch.setattr(encoder, "max_padding", 0.1)
    assert micro_batches([len(s) for s in SEQS], 8192, 0.1) == [[1], [4], [2], [0], [3]]  # lengths 3, 8, 11, 22, 60
    before = encoder.forward_calls
    for a, b in zip(budgeted, encoder.embed(SEQS), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert encoder.forward_calls - before == 5


def test_tiny_twin_has_fixed_weights(encoder):
    backend = encoder.encoder_id.split(":")[0]
    (emb,) = encoder.embed(["MKTAYIAKQR"])
    first, last = FIXED[backend]
    torch.testing.assert_close(emb[0, :4], torch.tensor(first), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(emb[-1, :2], torch.tensor(last), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_changes_weights_and_id_but_not_the_callers_rng(backend):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    other = build_encoder(EncoderConfig(backend=backend, device="cpu", tiny={"seed": 1}))
    torch.testing.assert_close(torch.rand(3), expected)  # building a twin leaves the global generator alone
    assert other.encoder_id == f"{backend}:tiny:d64-l2-h4-seed1"
    (emb,) = other.embed(["MKTAYIAKQR"])
    assert not torch.allclose(emb[0, :4], torch.tensor(FIXED[backend][0]), atol=1e-2)


def test_substitution_changes_embedding_most_at_its_site(encoder):
    mut = WT[:9] + "H" + WT[10:]  # R10H
    a, b = encoder.embed([WT, mut])
    diff = (a - b).norm(dim=-1)  # (L,)
    assert diff.argmax().item() == 9 and diff[9] > 0.1


def test_deletion_and_insertion_change_the_length(encoder):
    deleted, inserted = WT[:4] + WT[5:], WT[:5] + "GG" + WT[5:]  # Y5del, Y5_I6insGG
    shapes = [e.shape for e in encoder.embed([WT, deleted, inserted])]
    assert shapes == [(22, 64), (21, 64), (24, 64)]


def test_over_length_is_a_clear_error(encoder):
    with pytest.raises(
        ValueError,
        match=r"sequence 1: length 1023 exceeds the encoder's limit of 1022 residues "
        r"\(\w+:tiny:d64-l2-h4-seed0\)",
    ):
        encoder.embed(["MKT", "A" * 1023])
    assert encoder.embed(["A" * 1022])[0].shape == (1022, 64)


@pytest.mark.parametrize(
    ("seqs", "message"),
    [
        (["MKT", "MKJT"], r"sequence 1: 'J' at position 3 is not an amino-acid letter"),
        (["mkt"], r"sequence 0: 'm' at position 1 is not an amino-acid letter"),
        (["MKT", ""], r"sequence 1: empty or not a string"),
    ],
)
def test_bad_sequences_are_clear_errors(encoder, seqs, message):
    with pytest.raises(ValueError, match=message):
        encoder.embed(seqs)


def test_empty_input(encoder):
    assert encoder.embed([]) == []


@pytest.mark.parametrize("backend", ["esm2", "esmc"])
def test_bfloat16_runs_under_autocast_close_to_float32(backend):
    full = build_encoder(EncoderConfig(backend=backend, device="cpu", dtype="float32")).embed(SEQS[:3])
    half = build_encoder(EncoderConfig(backend=backend, device="cpu", dtype="bfloat16"))
    assert half.dtype == torch.bfloat16 and next(half.model.parameters()).dtype == torch.bfloat16
    for f, h in zip(full, half.embed(SEQS[:3]), strict=True):
        assert h.dtype == torch.float32
        assert (f - h).abs().max() < 0.1 * f.abs().max()  # bf16 keeps ~3 significant digits
