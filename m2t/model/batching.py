"""Examples and batches: chat-templated prompts with ``<delta_P>`` expanded, labels, padding."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from m2t.config import ModelConfig
from m2t.model.prompt import PromptFacts, user_text
from m2t.model.tokenizer import end_of_turn_id

IGNORE = -100  # label of tokens that are not supervised


def prompt_ids(
    tokenizer: PreTrainedTokenizerBase, *, system_prompt: str, user: str, delta_token: str, num_media_tokens: int
) -> list[int]:
    """The chat prompt up to the assistant header: the system turn, then a user turn of ``delta_token`` and ``user``
    (:func:`m2t.model.prompt.user_text`), with the one ``delta_token`` id repeated ``num_media_tokens`` times.
    ``num_media_tokens=0``: a text-only prompt, ``user`` alone (``model.use_protein: false``)."""
    content = f"{delta_token}\n{user}" if num_media_tokens else user
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]
    ids = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
    if not num_media_tokens:
        return ids
    delta_id = tokenizer.convert_tokens_to_ids(delta_token)
    if ids.count(delta_id) != 1:
        raise ValueError(
            f"the chat prompt must hold {delta_token} exactly once, found {ids.count(delta_id)} "
            f"(is it a special token of the tokenizer, and absent from model.system_prompt/instruction?)"
        )
    at = ids.index(delta_id)
    return ids[:at] + [delta_id] * num_media_tokens + ids[at + 1 :]


def make_example(
    tokenizer: PreTrainedTokenizerBase,
    model_cfg: ModelConfig,
    description: str | None,
    facts: PromptFacts | None = None,
) -> dict[str, list[int]]:
    """Token ids and labels of one sample; ``description=None`` gives the prompt alone (inference). ``facts``: what
    the user turn states of this record (the fields ``model.prompt_fields`` names).

    The prompt (chat template, generation prompt included) and the answer (+ end-of-turn) are
    tokenised separately and concatenated, so labels are -100 on exactly the prompt tokens.
    """
    prompt = prompt_ids(
        tokenizer,
        system_prompt=model_cfg.system_prompt,
        user=user_text(
            fields=model_cfg.prompt_fields,
            instruction=model_cfg.instruction,
            facts=facts,
            max_words=model_cfg.prompt_field_words,
        ),
        delta_token=model_cfg.delta_token,
        num_media_tokens=model_cfg.num_media_tokens if model_cfg.use_protein else 0,
    )
    if description is None:
        return {"input_ids": prompt, "labels": [IGNORE] * len(prompt)}
    answer = tokenizer(description.strip(), add_special_tokens=False)["input_ids"] + [end_of_turn_id(tokenizer)]
    return {"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer}


def pad_embeddings(items: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-residue embeddings ``[(L_i, D)]`` -> ``(b, L, D)`` float32 zero-padded and ``(b, L)`` bool (True = residue)."""
    tensors = [torch.as_tensor(x).float() for x in items]
    out = torch.zeros(len(tensors), max(t.shape[0] for t in tensors), tensors[0].shape[1])
    mask = torch.zeros(out.shape[:2], dtype=torch.bool)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]], mask[i, : t.shape[0]] = t, True
    return out, mask


def pad_tokens(examples: list[dict], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad examples' ``input_ids`` and ``labels`` (length t_i) to the longest: ``input_ids`` (b, t) padded with
    ``pad_id``, ``attention_mask`` (b, t) long (1 = token), ``labels`` (b, t) padded with -100."""
    t = max(len(e["input_ids"]) for e in examples)
    input_ids = torch.full((len(examples), t), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), t), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), t), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        input_ids[i, :n] = torch.as_tensor(e["input_ids"], dtype=torch.long)
        labels[i, :n] = torch.as_tensor(e["labels"], dtype=torch.long)
        attention_mask[i, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate(examples: list[dict], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples for training.

    Each example holds ``input_ids`` and ``labels`` (length t_i) and ``wt_emb`` ``(Lw_i, D)`` and
    ``mut_emb`` ``(Lm_i, D)``. Returns :func:`pad_tokens`' ``input_ids``, ``attention_mask`` and ``labels`` (b, t),
    ``wt_emb`` (b, Lw, D), ``wt_mask`` (b, Lw) bool (True = residue), ``mut_emb`` (b, Lm, D), ``mut_mask`` (b, Lm).
    """
    wt_emb, wt_mask = pad_embeddings([e["wt_emb"] for e in examples])
    mut_emb, mut_mask = pad_embeddings([e["mut_emb"] for e in examples])
    return {
        **pad_tokens(examples, pad_id=pad_id),
        "wt_emb": wt_emb,
        "wt_mask": wt_mask,
        "mut_emb": mut_emb,
        "mut_mask": mut_mask,
    }


def left_pad(sequences: list[list[int]], *, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad prompts for generation: ``input_ids`` (b, t) and ``attention_mask`` (b, t) long (1 = token)."""
    t = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), t), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), t), dtype=torch.long)
    for i, s in enumerate(sequences):
        input_ids[i, t - len(s) :] = torch.as_tensor(s, dtype=torch.long)
        attention_mask[i, t - len(s) :] = 1
    return input_ids, attention_mask


def to_device(batch: dict[str, torch.Tensor], *, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Move a batch to ``device``; float tensors (embeddings) take the model's ``dtype``."""
    return {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in batch.items()}
