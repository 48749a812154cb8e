"""Fixtures of tests/infer: an untrained tiny checkpoint (fresh adapter with open gates + fresh LoRA), built once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from m2t.config import Config, load_config
from m2t.encoders import tiny_encoder_id
from m2t.model import build_model, save_checkpoint


def tiny_config(root: Path, *overrides: str) -> Config:
    """The tiny default config writing under ``root`` (outputs, store) with short generations."""
    return load_config(
        None,
        [
            f"output.root={root}",
            f"embed.store={root / 'embeddings'}",
            "generation.max_new_tokens=8",
            "generation.batch_size=4",
            *overrides,
        ],
    )


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
