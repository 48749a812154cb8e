"""The real architectures with random weights: Llama-3.1-8B-Instruct as a local model directory, ESM3-open as a
seeded twin. Random weights of the real shapes cost the same memory and time as the real ones, and need no hub.

    llm_dir = write_random_llm(tmp / "llama", num_layers=2)     # config.json + weights + Llama-3-style tokenizer
    cfg.model.llm = str(llm_dir)                                 # then m2t loads it like a downloaded model
    cfg.encoder = esm3_open_twin(n_layers=2)                     # ESM3-open's dims, random weights

The tokenizer has Llama-3.1's layout: 128,000 ordinary tokens (a small byte-level BPE trained offline on
m2t's synthetic corpus, the rest unreachable fillers) and its 256 special tokens at 128,000-128,255 with
their real names, ``<|finetune_right_pad_id|>`` and ``<|eot_id|>`` included, and a Llama-3 chat template.
So loading it through m2t adds exactly one embedding row, ``<delta_P>``, as with the real tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from m2t.config import EncoderConfig, ModelConfig, TinyEncoderConfig
from m2t.model.tokenizer import BOS, EOT, LLAMA3_CHAT_TEMPLATE, tiny_corpus

# meta-llama/Llama-3.1-8B-Instruct's config.json, less the layer count
LLAMA31_8B = {
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "attention_bias": False,
    "mlp_bias": False,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
    "tie_word_embeddings": False,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "initializer_range": 0.02,
}
# esm.pretrained.ESM3_sm_open_v0's ESM3(...) arguments
ESM3_OPEN = {"d_model": 1536, "n_heads": 24, "v_heads": 256, "n_layers": 48}
ORDINARY = 128000  # Llama-3's ordinary (BPE) tokens; its 256 special tokens follow


def llama3_special_tokens() -> list[str]:
    """Llama-3.1's 256 special tokens in id order (128000 ...)."""
    named = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>",
        "<|reserved_special_token_2|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "<|python_tag|>",
    ]
    return named + [f"<|reserved_special_token_{i}|>" for i in range(3, 248)]


def llama3_tokenizer(*, bpe_vocab: int = 2000) -> PreTrainedTokenizerFast:
    """A tokenizer with Llama-3.1's vocabulary layout and specials (see the module doc); no ``<delta_P>`` yet."""
    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.train_from_iterator(
        tiny_corpus(ModelConfig()),
        trainer=trainers.BpeTrainer(
            vocab_size=bpe_vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        ),
    )
    model = json.loads(trained.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab.update({f"<unused_{i}>": i for i in range(len(vocab), ORDINARY)})  # never produced: no merge makes them
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in llama3_special_tokens()])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOT)
    out.chat_template = LLAMA3_CHAT_TEMPLATE
    assert len(out) == LLAMA31_8B["vocab_size"] and out.convert_tokens_to_ids(EOT) == 128009
    return out


def llama31_8b_config(*, num_layers: int = 32, **dims) -> LlamaConfig:
    """Llama-3.1-8B-Instruct's exact ``LlamaConfig`` with ``num_layers`` layers (``dims`` shrink it for dry runs)."""
    return LlamaConfig(**{**LLAMA31_8B, "num_hidden_layers": num_layers, **dims})


def write_random_llm(
    out_dir: str | Path,
    *,
    config: LlamaConfig,
    dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> Path:
    """A local model directory (``config.json``, safetensors weights, tokenizer) of ``config`` with random
    weights, initialised on ``device`` in ``dtype``; ``model.llm=<dir>`` then loads it like a hub model."""
    out = Path(out_dir)
    torch.manual_seed(seed)
    with torch.device(device):
        llm = LlamaForCausalLM._from_config(config, torch_dtype=dtype)
    llm.generation_config.pad_token_id = None
    llm.save_pretrained(out, safe_serialization=True)
    del llm
    llama3_tokenizer().save_pretrained(out)
    return out


def esm3_open_twin(*, n_layers: int = ESM3_OPEN["n_layers"], dims: dict | None = None, **runtime) -> EncoderConfig:
    """The encoder config of ESM3-open's architecture (``n_layers`` of its 48) with seeded random weights;
    ``dims`` overrides d_model / n_heads / v_heads (dry runs), ``runtime`` sets device, dtype, token_budget or
    max_padding."""
    tiny = TinyEncoderConfig(**{**ESM3_OPEN, **(dims or {}), "n_layers": n_layers, "seed": 0})
    return EncoderConfig(backend="esm3", name="tiny", tiny=tiny, **runtime)
