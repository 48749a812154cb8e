"""Which encoder a config builds: ``(encoder_id, hidden_size)``, asked of the encoder itself.

The store is keyed by the encoder's own ``encoder_id``, so the driver asks a Ray task to build the
encoder once (with the actors' resources: a GPU when the cluster has them, so a CPU-only head node
never loads a large model) and report its identity. Cached per encoder config in this process.
"""

from __future__ import annotations

import functools

import ray

from m2t.config import EncoderConfig


def _identity(encoder: EncoderConfig) -> tuple[str, int]:
    from m2t.encoders import build_encoder

    built = build_encoder(encoder)
    return built.encoder_id, int(built.hidden_size)


@functools.lru_cache(maxsize=8)
def _cached(encoder_json: str, num_gpus: int, num_cpus: float) -> tuple[str, int]:
    task = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus)(_identity)
    return ray.get(task.remote(EncoderConfig.model_validate_json(encoder_json)))


def encoder_identity(encoder: EncoderConfig, *, num_gpus: int = 0, num_cpus: float = 0.5) -> tuple[str, int]:
    """``(encoder_id, hidden_size)`` of the encoder ``encoder`` builds, from a Ray task with these resources."""
    return _cached(encoder.model_dump_json(), num_gpus, num_cpus)
