"""Encoders: padding never changes outputs, BOS/EOS stripped, budgeted batching, determinism, limits."""

import subprocess
import sys

import pytest
import torch

from m2t.config import EncoderConfig
from m2t.encoders import build_encoder
from m2t.encoders.base import micro_batches

BACKENDS = ["esm2", "esmc", "esm3"]
SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "MKT", "MKTAYIAKQRQ", "ACDEFGHIKLMNPQRSTVWY" * 3]


@pytest.fixture(scope="module", params=BACKENDS)
def encoder(request):
    return build_encoder(EncoderConfig(backend=request.param, token_budget=48))


def test_batched_equals_one_at_a_time(encoder):
    batched = encoder.embed(SEQS)
    single = [encoder.embed([s])[0] for s in SEQS]
    for b, s, seq in zip(batched, single, SEQS):
        assert b.shape == (len(seq), encoder.hidden_size)  # BOS/EOS stripped
        torch.testing.assert_close(b, s, atol=1e-5, rtol=1e-4)


def test_token_budget_splits_batches(encoder):
    before = encoder.forward_calls
    encoder.embed(SEQS)
    assert encoder.forward_calls - before == len(micro_batches([len(s) for s in SEQS], 48)) > 1


def test_micro_batches_respect_budget():
    lengths = [5, 100, 7, 30, 6, 31]
    batches = micro_batches(lengths, 70)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 2) <= 70


def test_mutation_changes_embedding_at_the_site(encoder):
    wt, mut = "MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAKQHQISFVKSHFSRQ"  # R10H
    a, b = encoder.embed([wt, mut])
    diff = (a - b).norm(dim=-1)
    assert diff.argmax().item() == 9 and diff[9] > 0


def test_over_length_is_a_clear_error(encoder):
    with pytest.raises(ValueError, match=r"sequence 1: length 2000 exceeds"):
        encoder.embed(["MKT", "A" * 2000])


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_twin_is_identical_across_processes(backend):
    code = ("from m2t.config import EncoderConfig; from m2t.encoders import build_encoder;"
            f"print(build_encoder(EncoderConfig(backend='{backend}')).embed(['MKTAYIAKQR'])[0].sum().item())")
    other = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1])
    here = build_encoder(EncoderConfig(backend=backend)).embed(["MKTAYIAKQR"])[0].sum().item()
    assert other == pytest.approx(here, abs=1e-5)
    assert build_encoder(EncoderConfig(backend=backend)).encoder_id != build_encoder(
        EncoderConfig(backend=backend, tiny={"seed": 1})).encoder_id
