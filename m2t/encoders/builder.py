"""Config → encoder: the backend's real weights, or an ESM backend's seeded tiny twin when ``name`` is ``tiny``
(``random_weights``: its effect scores mean nothing)."""

from __future__ import annotations

from m2t.config import EncoderConfig
from m2t.encoders.base import ProteinEncoder, resolve_device_dtype


def tiny_encoder_id(cfg: EncoderConfig) -> str:
    """E.g. ``esm2:tiny:d64-l2-h4-seed0`` (``-v256`` after the heads when ``tiny.v_heads`` is set): backend,
    dims and seed fix the twin's weights."""
    t = cfg.tiny
    v = f"-v{t.v_heads}" if t.v_heads is not None else ""
    return f"{cfg.backend}:tiny:d{t.d_model}-l{t.n_layers}-h{t.n_heads}{v}-seed{t.seed}"


# how an encoder runs, not which weights it has
RUNTIME = ("device", "dtype", "token_budget", "max_padding", "long_sequences")


def with_runtime(trained: EncoderConfig, run: EncoderConfig) -> EncoderConfig:
    """The encoder a checkpoint was trained with (``trained``), run as ``run`` says (device, dtype, batching)."""
    return trained.model_copy(update={field: getattr(run, field) for field in RUNTIME})


def build_encoder(cfg: EncoderConfig) -> ProteinEncoder:
    """The encoder named by ``cfg`` on ``cfg.device`` in ``cfg.dtype`` (``auto``: cuda + bf16 when a GPU is visible),
    batching by ``cfg.token_budget`` and ``cfg.max_padding``.

    Backends import lazily, so an ESM-2 run never imports the ``esm`` SDK.
    """
    device, dtype = resolve_device_dtype(cfg.device, cfg.dtype)
    common = {"token_budget": cfg.token_budget, "device": device, "dtype": dtype}
    if cfg.backend == "unirep":  # real weights only; always float32
        from m2t.encoders.unirep import UniRepEncoder

        encoder = UniRepEncoder.pretrained(cfg.name, layer=cfg.layer, token_budget=cfg.token_budget, device=device)
        encoder.max_padding = cfg.max_padding
        return encoder
    if cfg.backend == "esm2":
        from m2t.encoders.esm2 import Esm2Encoder as Encoder
    elif cfg.backend == "esmc":
        from m2t.encoders.esmc import EsmcEncoder as Encoder
    else:
        from m2t.encoders.esm3 import Esm3Encoder as Encoder
    if cfg.name == "tiny":
        encoder = Encoder.tiny(**cfg.tiny.model_dump(exclude_none=True), encoder_id=tiny_encoder_id(cfg), **common)
    else:
        encoder = Encoder.pretrained(cfg.name, **common)
    encoder.max_padding = cfg.max_padding
    encoder.random_weights = cfg.name == "tiny"
    return encoder
