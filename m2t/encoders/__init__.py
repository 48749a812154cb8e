"""Protein encoders: ESM3 / ESM C (EvolutionaryScale SDK) and ESM-2 (transformers), plus tiny random twins.

    from m2t.encoders import build_encoder
    encoder = build_encoder(cfg.encoder)
    per_residue = encoder.embed(["MKTAYIAKQR", "MKTAYIAKQH"])   # [(10, D), (10, D)]
"""

from __future__ import annotations

from m2t.config import EncoderConfig
from m2t.encoders.base import ProteinEncoder, resolve_device_dtype

__all__ = ["ProteinEncoder", "build_encoder", "tiny_encoder_id"]


def tiny_encoder_id(cfg: EncoderConfig) -> str:
    t = cfg.tiny
    return f"{cfg.backend}:tiny:d{t.d_model}-l{t.n_layers}-h{t.n_heads}-seed{t.seed}"


def build_encoder(cfg: EncoderConfig) -> ProteinEncoder:
    """The encoder named by the config; ``name: tiny`` builds the seeded random twin offline."""
    device, dtype = resolve_device_dtype(cfg.device, cfg.dtype)
    common = {"token_budget": cfg.token_budget, "device": device, "dtype": dtype}
    if cfg.backend == "esm2":
        from m2t.encoders.esm2 import Esm2Encoder, tiny_model, tiny_tokenizer

        if cfg.name != "tiny":
            return Esm2Encoder.pretrained(cfg.name, **common)
        return Esm2Encoder(model=tiny_model(**cfg.tiny.model_dump()), tokenizer=tiny_tokenizer(),
                           encoder_id=tiny_encoder_id(cfg), **common)
    from m2t.encoders.esm_sdk import EsmSdkEncoder, tiny_esm3, tiny_esmc

    if cfg.name != "tiny":
        return EsmSdkEncoder.pretrained(cfg.backend, cfg.name, **common)
    build = tiny_esm3 if cfg.backend == "esm3" else tiny_esmc
    return EsmSdkEncoder(model=build(**cfg.tiny.model_dump()), encoder_id=tiny_encoder_id(cfg),
                         hidden_size=cfg.tiny.d_model, **common)
