"""Helpers shared by tests/model: tiny configs, random protein batches, a local 'hub' LLM without m2t tokens."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from m2t.config import REPO_ROOT, Config, load_config
from m2t.model import DeltaAdapter, M2TModel, build_adapter, collate, make_example
from m2t.model.tokenizer import BOS, END_HEADER, EOS, EOT, LLAMA3_CHAT_TEMPLATE, START_HEADER

CONFIGS = REPO_ROOT / "jobs" / "configs"


def tiny_cfg(*overrides: str) -> Config:
    return load_config(None, list(overrides))


def tiny_adapter() -> DeltaAdapter:
    """The adapter of ``jobs/configs/tiny.yaml`` (tiny ESM-2 64-d -> tiny Llama 64-d)."""
    cfg = load_config(CONFIGS / "tiny.yaml")
    return build_adapter(cfg.model, dim_in=cfg.encoder.tiny.d_model, dim_llm=cfg.model.tiny_llm.hidden_size)


def llama3_esm3_adapter() -> DeltaAdapter:
    """The adapter of ``jobs/configs/llama3_esm3.yaml`` (ESM3-open 1536-d -> Llama-3.1-8B 4096-d); build it under
    ``torch.device("meta")`` to inspect shapes without allocating ~0.8 GB."""
    return build_adapter(load_config(CONFIGS / "llama3_esm3.yaml").model, dim_in=1536, dim_llm=4096)


def open_gates(model: M2TModel, value: float = 0.08) -> None:
    """Open every tanh gate of the adapter so the protein vectors reach the LLM."""
    with torch.no_grad():
        for name, p in model.adapter.named_parameters():
            if name.endswith("gate"):
                p.fill_(value)


def random_batch(
    model: M2TModel, cfg: Config, descriptions: list[str | None], lengths: list[tuple[int, int]], seed: int = 0
) -> dict[str, torch.Tensor]:
    """A collated batch with random (wild type, mutant) embeddings of the given residue counts."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for text, (lw, lm) in zip(descriptions, lengths, strict=True):
        ex = make_example(model.tokenizer, cfg.model, text)
        ex["wt_emb"] = torch.randn(lw, model.dim_in, generator=g)
        ex["mut_emb"] = torch.randn(lm, model.dim_in, generator=g)
        examples.append(ex)
    return collate(examples, pad_id=model.tokenizer.pad_token_id)


def save_local_llm(root: Path, *, with_pad: bool = False) -> Path:
    """A Llama + tokenizer directory shaped like a hub chat model: chat template, no <delta_P>, and no pad
    (or Llama-3.1's reserved ``<|finetune_right_pad_id|>`` when ``with_pad``), so loading it must grow the vocab."""
    specials = [BOS, EOS, START_HEADER, END_HEADER, EOT] + (["<|finetune_right_pad_id|>"] if with_pad else [])
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    bpe.train_from_iterator(
        ["a protein mutation is replaced by histidine"] * 3,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=BOS, eos_token=EOS, additional_special_tokens=[START_HEADER, END_HEADER, EOT]
    )
    tok.chat_template = LLAMA3_CHAT_TEMPLATE
    torch.manual_seed(0)
    llm = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            tie_word_embeddings=False,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    )
    llm.save_pretrained(root)
    tok.save_pretrained(root)
    return root
