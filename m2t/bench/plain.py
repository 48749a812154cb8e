"""The plain transformers + PEFT script a user would write instead of m2t: the real-weights benchmarks' baseline.

It trains the same LoRA as m2t's stage 2 (``lora.*``) on the text-only chat prompt with a simple PyTorch loop
(``AutoModelForCausalLM`` + ``peft.get_peft_model``, AdamW, gradient clipping, each micro-batch padded to its
longest), and describes with ``model.generate`` on left-padded batches. Prompts and labels are m2t's text-only ones
(the system turn, the user turn with the record's facts, the answer supervised up to its end-of-turn token), so
the work matches m2t's text-only model token for token.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import peft
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from m2t.config import Config, ModelConfig
from m2t.data.records import Record
from m2t.model.batching import left_pad, make_example, pad_tokens
from m2t.model.prompt import facts_of
from m2t.model.tokenizer import end_of_turn_id


def peak_rss_gib() -> float:
    """This process's peak resident memory so far (Linux reports ``ru_maxrss`` in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def text_only(cfg: Config) -> ModelConfig:
    """``cfg.model`` without the protein path: the plain script's prompt is m2t's text-only one."""
    return cfg.model.model_copy(update={"use_protein": False})


def example(tokenizer: PreTrainedTokenizerBase, cfg: Config, record: Record) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` of ``record``: the text-only chat prompt (labels -100), then the answer and its
    end-of-turn token (:func:`m2t.model.batching.make_example` on the text-only model config)."""
    facts = facts_of(mutations=record.mutations, protein_name=record.protein_name, function=record.function)
    return make_example(tokenizer, text_only(cfg), record.description, facts)


def prompt(tokenizer: PreTrainedTokenizerBase, cfg: Config, record: Record) -> list[int]:
    """The text-only generation prompt of ``record`` (the chat template's generation prompt included)."""
    facts = facts_of(mutations=record.mutations, protein_name=record.protein_name, function=record.function)
    return make_example(tokenizer, text_only(cfg), None, facts)["input_ids"]


def load(llm: str, *, lora: Config | None = None):
    """``(model, tokenizer)`` from the model directory; with ``lora`` (a config), its ``lora.*`` LoRA on top."""
    tokenizer = AutoTokenizer.from_pretrained(llm)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(llm, torch_dtype=torch.float32)
    if lora is not None:
        config = peft.LoraConfig(
            r=lora.lora.r,
            lora_alpha=lora.lora.alpha,
            lora_dropout=lora.lora.dropout,
            target_modules=list(lora.lora.target_modules),
            task_type="CAUSAL_LM",
        )
        model = peft.get_peft_model(model, config)
    return model, tokenizer


@dataclass(frozen=True, kw_only=True)
class TrainBlock:
    """What :func:`train_block` measured: ``seconds`` of the timed steps (all but the first, a warm-up), their real
    and padded tokens and samples, the first step's loss, this process's peak RSS, and the LLM's forward + backward
    FLOPs as ``a·T + b·T²`` per sequence of T tokens (``flop_coefficients``, counted at two lengths)."""

    seconds: float
    steps: int
    samples: int
    tokens: int
    padded_tokens: int
    first_loss: float
    peak_rss_gib: float
    flop_coefficients: tuple[float, float]


def sequence_flops(model, *, lengths: tuple[int, int] = (16, 32)) -> tuple[float, float]:
    """``(a, b)`` with forward + backward FLOPs = ``a·T + b·T²`` for one sequence of T tokens, counted by torch's
    FlopCounterMode (eager attention, so its matmuls count) at two lengths: matmuls grow with T, attention with T²."""
    config = model.config
    attention, config._attn_implementation = config._attn_implementation, "eager"
    counted = []
    try:
        for t in lengths:
            ids = torch.zeros(1, t, dtype=torch.long)
            with FlopCounterMode(display=False) as counter:
                model(input_ids=ids, labels=ids).loss.backward()
            counted.append(float(counter.get_total_flops()))
    finally:
        config._attn_implementation = attention
        model.zero_grad(set_to_none=True)
    (t1, t2), (f1, f2) = lengths, counted
    b = (f2 / t2 - f1 / t1) / (t2 - t1)
    return f1 / t1 - b * t1, b


def train_block(
    cfg: Config, *, stage: str, examples: list[dict[str, list[int]]], micro_batch: int, threads: int
) -> TrainBlock:
    """The plain training loop over ``examples`` in order, ``micro_batch`` at a time, on ``threads`` torch threads
    (run it in a fresh process: its peak RSS is the loop's own)."""
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.train.seed)
    model, tokenizer = load(str(cfg.model.llm), lora=cfg)
    coefficients = sequence_flops(model)
    stage_cfg = getattr(cfg.train, stage)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=stage_cfg.lr, weight_decay=stage_cfg.weight_decay)
    model.train()
    seconds, tokens, padded, samples, first_loss = 0.0, 0, 0, 0, None
    starts = range(0, len(examples) - micro_batch + 1, micro_batch)
    for i, start in enumerate(starts):
        batch = pad_tokens(examples[start : start + micro_batch], pad_id=tokenizer.pad_token_id)
        started = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, stage_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i == 0:
            first_loss = loss.item()
            continue  # the warm-up step
        seconds += time.perf_counter() - started
        tokens += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
        samples += batch["input_ids"].shape[0]
    return TrainBlock(
        seconds=seconds,
        steps=len(starts) - 1,
        samples=samples,
        tokens=tokens,
        padded_tokens=padded,
        first_loss=first_loss,
        peak_rss_gib=peak_rss_gib(),
        flop_coefficients=coefficients,
    )


@torch.no_grad()
def generate(
    model,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    repetition_penalty: float,
) -> tuple[list[str], int]:
    """Greedy ``model.generate`` on one left-padded batch of ``prompts``: the answers' texts (special tokens removed)
    and their new tokens (each answer up to and including its end-of-turn token)."""
    eot = end_of_turn_id(tokenizer)
    input_ids, attention_mask = left_pad(prompts, pad_id=tokenizer.pad_token_id)  # (b, t)
    t = input_ids.shape[1]
    out = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        repetition_penalty=repetition_penalty if repetition_penalty != 1.0 else None,
        eos_token_id=eot,
        pad_token_id=tokenizer.pad_token_id,
    )[:, t:]  # (b, new)
    texts = [s.strip() for s in tokenizer.batch_decode(out, skip_special_tokens=True)]
    return texts, answer_tokens(out, eot=eot)


def answer_tokens(out: torch.Tensor, *, eot: int) -> int:
    """New tokens of a ``(b, n)`` generate output: each row up to and including its first ``eot`` (all n without)."""
    done = (out == eot).int().cumsum(dim=1)  # (b, n) 1 from the end-of-turn token on
    return int(((done == 0) | ((done == 1) & (out == eot))).sum())
