"""The base causal LM: a tiny random Llama rebuilt bit-identically from its config, or a hub/local model."""

from __future__ import annotations

import logging

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from m2t.config import ModelConfig
from m2t.model.tokenizer import end_of_turn_id

log = logging.getLogger(__name__)


def resolve_dtype(name: str) -> torch.dtype:
    """``auto`` = bfloat16 when CUDA is available, else float32."""
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def tiny_llama(model_cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A random Llama from ``model_cfg.tiny_llm``; same config, same weights, in any process.

    The vocabulary is ``tiny_llm.vocab_size`` rows whatever the BPE produced, so the weights depend
    on the seed and the dims only (checkpoints never store base weights; they rebuild this).
    """
    t = model_cfg.tiny_llm
    if len(tokenizer) > t.vocab_size:
        raise ValueError(
            f"tokenizer has {len(tokenizer)} tokens but model.tiny_llm.vocab_size is {t.vocab_size}; raise it"
        )
    config = LlamaConfig(
        vocab_size=t.vocab_size,
        hidden_size=t.hidden_size,
        intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_layers,
        num_attention_heads=t.num_heads,
        num_key_value_heads=t.num_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_of_turn_id(tokenizer)],
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(t.seed)
        return LlamaForCausalLM(config)


def build_llm(model_cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase) -> tuple[PreTrainedModel, list[int]]:
    """The base LLM sized for ``tokenizer``, and the ids of embedding rows added by resizing (maybe none).

    New rows (e.g. ``<delta_P>`` added to Llama-3.1's vocabulary) start at the mean of the old rows,
    input and output embeddings alike; the checkpoint saves them. (transformers' own mean resizing
    draws them from a normal of 1e-9 times the rows' covariance, i.e. the same mean, but its
    eigenvalue check of that 4096 x 4096 covariance takes minutes on a CPU, at every load.)
    """
    dtype = resolve_dtype(model_cfg.dtype)
    if model_cfg.llm == "tiny":
        return tiny_llama(model_cfg, tokenizer).to(dtype), []
    llm = AutoModelForCausalLM.from_pretrained(
        model_cfg.llm, torch_dtype=dtype, trust_remote_code=model_cfg.trust_remote_code
    )
    old_rows = llm.get_input_embeddings().weight.shape[0]
    new_ids: list[int] = []
    if len(tokenizer) > old_rows:
        llm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            for rows in {
                id(e.weight): e.weight for e in (llm.get_input_embeddings(), llm.get_output_embeddings())
            }.values():
                rows[old_rows:] = (
                    rows[:old_rows].mean(dim=0, dtype=torch.float32).to(rows.dtype)
                )  # (new, d) <- mean (d,)
        new_ids = list(range(old_rows, len(tokenizer)))
        log.info(
            "resized %s embeddings %d -> %d rows (new tokens %s)",
            model_cfg.llm,
            old_rows,
            len(tokenizer),
            tokenizer.convert_ids_to_tokens(new_ids),
        )
    llm.config.pad_token_id = tokenizer.pad_token_id
    return llm, new_ids


def enable_gradient_checkpointing(llm: PreTrainedModel) -> None:
    """Non-reentrant checkpointing: works when the inputs (frozen embeddings) need no grad."""
    llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    llm.config.use_cache = False
