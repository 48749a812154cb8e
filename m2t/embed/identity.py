"""Which encoder a config builds: its id, hidden size and longest sequence, asked of the encoder itself.

The store is keyed by the encoder's own ``encoder_id``, so the encoder is built once to ask it: a
tiny random twin or UniRep right here (milliseconds to a second), other real weights in a Ray task with the actors' resources (a
GPU when the cluster has them), so the driver never loads a large model. Cached per encoder config.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from m2t.config import EncoderConfig


class EncoderIdentity(NamedTuple):
    encoder_id: str
    hidden_size: int
    max_length: int  # residues, BOS/EOS excluded
    effect_method: str  # m2t.infer.effect.METHODS
    random_weights: bool  # a seeded random twin


def _identity(encoder: EncoderConfig) -> EncoderIdentity:
    from m2t.encoders import build_encoder

    built = build_encoder(encoder)
    return EncoderIdentity(
        built.encoder_id, int(built.hidden_size), int(built.max_length), built.effect_method, built.random_weights
    )


@functools.lru_cache(maxsize=8)
def _cached(encoder_json: str, num_gpus: int, num_cpus: float) -> EncoderIdentity:
    encoder = EncoderConfig.model_validate_json(encoder_json)
    if encoder.name == "tiny" or encoder.backend == "unirep":  # small enough to build here
        return _identity(encoder.model_copy(update={"device": "cpu"}))
    import ray  # only for real weights: the tiny twins and UniRep need no cluster

    task = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus)(_identity)
    return EncoderIdentity(*ray.get(task.remote(encoder)))


def encoder_identity(encoder: EncoderConfig, *, num_gpus: int = 0, num_cpus: float = 0.5) -> EncoderIdentity:
    """The identity of the encoder ``encoder`` builds (real weights: in a Ray task with these resources)."""
    return _cached(encoder.model_dump_json(), num_gpus, num_cpus)
