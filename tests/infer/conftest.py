"""Fixtures of tests/infer: an untrained tiny checkpoint (fresh adapter with open gates + fresh LoRA), built once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from m2t.config import Config, load_config
from m2t.encoders import tiny_encoder_id
from m2t.encoders.base import LOGPROB_ALPHABET
from m2t.model import build_model, save_checkpoint


def tiny_config(root: Path, *overrides: str) -> Config:
    """The tiny default config on the tiny random ESM-2 twin (the ESM code paths), writing under ``root`` (outputs,
    store), with short generations."""
    return load_config(
        None,
        [
            "encoder.backend=esm2",
            f"output.root={root}",
            f"embed.store={root / 'embeddings'}",
            "generation.max_new_tokens=8",
            "generation.batch_size=4",
            *overrides,
        ],
    )


def model_logprobs(encoder, sequence: str) -> torch.Tensor:
    """(L, 20) float64 log-probabilities straight from a tiny ESM-2's own masked-LM forward over the unpadded
    ``sequence`` (columns ``LOGPROB_ALPHABET``): what the effect score is checked against."""
    with torch.inference_mode():
        logits = encoder.model(input_ids=encoder.tokenize(sequence)[None]).logits  # (1, L + 2, 33)
    columns = encoder.tokenizer.convert_tokens_to_ids(list(LOGPROB_ALPHABET))
    return logits[0, 1:-1].log_softmax(dim=-1)[:, columns].double()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A stage-2 checkpoint of the tiny config, untrained; gates opened so the protein reaches the LLM."""
    root = tmp_path_factory.mktemp("ckpt")
    cfg = tiny_config(root)
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=cfg.encoder.tiny.d_model, encoder_id=tiny_encoder_id(cfg.encoder))
    with torch.no_grad():
        for name, p in model.adapter.named_parameters():
            if name.endswith("gate"):
                p.fill_(1.0)
    return save_checkpoint(model, cfg, root / "finetune" / "checkpoint")
