"""Protein encoders: ESM3 / ESM C (EvolutionaryScale SDK) and ESM-2 (transformers), plus tiny random twins.

from m2t.encoders import build_encoder
encoder = build_encoder(cfg.encoder)
per_residue = encoder.embed(["MKTAYIAKQR", "MKTAYIAKQH"])   # [(10, D), (10, D)] float32 on CPU
"""

from m2t.encoders.base import ProteinEncoder
from m2t.encoders.builder import build_encoder, tiny_encoder_id, with_runtime

__all__ = ["ProteinEncoder", "build_encoder", "tiny_encoder_id", "with_runtime"]
