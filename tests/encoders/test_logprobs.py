"""Per-residue log-probabilities from the encoders' language-model heads: equal to the model's own logits, from the
same pass as the embeddings, padding-proof, fixed per seed; ESM-2 weights without an LM head are refused."""

import pytest
import torch
from transformers import EsmForMaskedLM

from m2t.config import EncoderConfig
from m2t.encoders import build_encoder
from m2t.encoders.base import LOGPROB_ALPHABET
from m2t.encoders.esm2 import Esm2Encoder, tiny_tokenizer

BACKENDS = ["esm2", "esmc", "esm3"]
WT = "MKTAYIAKQRQISFVKSHFSRQ"
# logprobs of embed_and_logprobs(["MKTAYIAKQR"])[1][0][0, :3] (position 1, columns A C D) of the default tiny twins,
# computed once: the encoder_id promises these weights, the LM head included.
FIXED = {
    "esm2": [-3.519255, -3.949801, -3.419572],
    "esmc": [-3.586414, -5.066585, -3.725977],
    "esm3": [-4.097692, -4.080687, -4.659406],
}


@pytest.fixture(scope="module", params=BACKENDS)
def encoder(request):
    return build_encoder(EncoderConfig(backend=request.param, device="cpu"))


def direct_logprobs(encoder, sequence: str) -> torch.Tensor:
    """(L, 20): the model's own forward on the unpadded sequence, log-softmax over its vocabulary, residue columns."""
    ids = encoder.tokenize(sequence)[None]  # (1, L + 2)
    with torch.inference_mode():
        if isinstance(encoder.model, EsmForMaskedLM):
            logits = encoder.model(input_ids=ids).logits
        else:
            logits = encoder.model(sequence_tokens=ids).sequence_logits
    columns = encoder.tokenizer.convert_tokens_to_ids(list(LOGPROB_ALPHABET))
    return logits[0, 1:-1].log_softmax(dim=-1)[:, columns]


def test_logprobs_are_the_models_own_and_come_with_the_embeddings(encoder):
    embeddings, logprobs = encoder.embed_and_logprobs([WT])
    assert logprobs[0].shape == (len(WT), 20) and logprobs[0].dtype == torch.float32
    torch.testing.assert_close(logprobs[0], direct_logprobs(encoder, WT), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embeddings[0], encoder.embed([WT])[0], atol=0, rtol=0)  # the same pass
    before = encoder.forward_calls
    encoder.embed_and_logprobs([WT, "MKT"])
    assert encoder.forward_calls - before <= 2  # one pass per micro-batch gives both


def test_padding_does_not_change_logprobs(encoder, monkeypatch):
    monkeypatch.setattr(encoder, "max_padding", 1.0)  # one micro-batch: "MKT" padded next to WT
    sequences = [WT, "MKT", "ACDEFGHIKLMNPQRSTVWY"]
    _, batched = encoder.embed_and_logprobs(sequences)
    for seq, lp in zip(sequences, batched, strict=True):
        torch.testing.assert_close(lp, encoder.embed_and_logprobs([seq])[1][0], atol=1e-5, rtol=1e-4)


def test_tiny_twin_lm_head_is_fixed_by_the_seed(encoder):
    backend = encoder.encoder_id.split(":")[0]
    _, (lp,) = encoder.embed_and_logprobs(["MKTAYIAKQR"])
    torch.testing.assert_close(lp[0, :3], torch.tensor(FIXED[backend]), atol=1e-4, rtol=1e-4)


def test_esm2_from_a_directory_needs_its_lm_head(tmp_path):
    tiny = build_encoder(EncoderConfig(backend="esm2", device="cpu"))
    tiny.model.save_pretrained(tmp_path / "mlm")
    tiny_tokenizer().save_pretrained(tmp_path / "mlm")
    common = {"token_budget": 4096, "device": torch.device("cpu"), "dtype": torch.float32}
    loaded = Esm2Encoder.pretrained(str(tmp_path / "mlm"), **common)
    torch.testing.assert_close(loaded.embed_and_logprobs([WT])[1][0], tiny.embed_and_logprobs([WT])[1][0])
    tiny.model.esm.save_pretrained(tmp_path / "body")  # a bare EsmModel: no masked-LM head
    tiny_tokenizer().save_pretrained(tmp_path / "body")
    with pytest.raises(ValueError, match=r"have no masked-LM head \(missing lm_head\."):
        Esm2Encoder.pretrained(str(tmp_path / "body"), **common)
