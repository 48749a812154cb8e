"""Decoding that lets each answer leave the batch as soon as it ends.

transformers' ``generate`` keeps every row of a batch in every step until the longest answer ends: a row that wrote
its end-of-turn token is still run through the model, its next tokens overwritten with padding. With trained
checkpoints answering in 20-40 tokens and the longest of 16 often running to ``max_new_tokens``, most of a batch's
decoding went to finished rows. :func:`decode` drops a row the step it ends, from the batch and from the KV cache
(transformers' ``DynamicCache.batch_select_indices``), so each step costs what the unfinished rows need.

Everything else is ``generate``'s own loop: transformers' logits processors (repetition penalty, temperature, top-p),
which see only the generated ids, never the prompt; position ids counted over the attention mask, so left-padded
prompts decode as they would alone; the LM head on the last position only; the same ``(b, n)`` output, each row
ending with its stop id and then pad ids. Greedy output equals ``generate``'s (``tests/model/test_decode.py``).
"""

from __future__ import annotations

import torch
from transformers import (
    DynamicCache,
    LogitsProcessorList,
    PreTrainedModel,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)


def processors(*, temperature: float | None, top_p: float | None, repetition_penalty: float) -> LogitsProcessorList:
    """transformers' processors for these settings, in ``generate``'s order; ``temperature`` None = greedy."""
    out = LogitsProcessorList()
    if repetition_penalty != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(repetition_penalty))
    if temperature is not None:
        if temperature != 1.0:
            out.append(TemperatureLogitsWarper(temperature))
        if top_p is not None and top_p < 1.0:
            out.append(TopPLogitsWarper(top_p))
    return out


@torch.no_grad()
def decode(
    llm: PreTrainedModel,
    *,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    stop_ids: list[int],
    pad_id: int,
    logits_processor: LogitsProcessorList,
    sample: bool,
) -> torch.Tensor:
    """New token ids for a batch of left-padded prompts.

    Args:
        llm: a causal LM (or a PEFT model around one) taking ``inputs_embeds`` and a ``DynamicCache``.
        inputs_embeds: ``(b, t, d)`` the prompts' input embeddings; attention_mask: ``(b, t)``, 1 = token.
        stop_ids: an answer ends after writing one of these (it is kept, then pad ids follow).
        logits_processor: applied to each step's ``(a, vocab)`` fp32 logits with the ``(a, k)`` ids generated so
            far (:func:`processors`); ``sample``: draw from the softmax, else argmax.

    Returns:
        ``(b, n)`` ids, ``n <= max_new_tokens`` the steps until every answer ended or the limit.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    b, device = inputs_embeds.shape[0], inputs_embeds.device
    out = torch.full((b, max_new_tokens), pad_id, dtype=torch.long, device=device)  # (b, max_new_tokens)
    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)
    rows = torch.arange(b, device=device)  # (a,) the batch rows still decoding
    mask = attention_mask.long()  # (a, t + k)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # (a, t) as generate counts them
    cache, step = DynamicCache(), {"inputs_embeds": inputs_embeds}
    for k in range(max_new_tokens):
        logits = llm(
            **step,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            num_logits_to_keep=1,
        ).logits[:, -1, :]  # (a, vocab)
        scores = logits_processor(out[rows, :k], logits.float())  # (a, vocab)
        tokens = torch.multinomial(scores.softmax(-1), 1).squeeze(1) if sample else scores.argmax(-1)  # (a,)
        out[rows, k] = tokens
        going = ~torch.isin(tokens, stops)  # (a,)
        if not going.all():
            kept = going.nonzero().squeeze(1)
            rows, tokens, mask, positions = rows[kept], tokens[kept], mask[kept], positions[kept]
            cache.batch_select_indices(kept)
        if rows.numel() == 0:
            return out[:, : k + 1]
        mask = torch.cat([mask, mask.new_ones(rows.numel(), 1)], dim=1)  # (a, t + k + 1)
        positions = positions[:, -1:] + 1  # (a, 1)
        step = {"input_ids": tokens[:, None]}  # (a, 1)
    return out
