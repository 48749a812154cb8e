"""M2TModel: the DeltaAdapter's vectors spliced into a causal LM at the ``<delta_P>`` positions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import CausalLMOutputWithPast

from m2t.model.adapter import DeltaAdapter
from m2t.model.batching import left_pad, prompt_ids
from m2t.model.decode import decode, processors
from m2t.model.loss import answer_loss
from m2t.model.prompt import Field, PromptFacts, user_text
from m2t.model.tokenizer import end_of_turn_id

# Sampling colder than this is greedy: it is argmax anyway, and logits divided by a subnormal temperature overflow
# to inf, which makes the sampler's probabilities NaN (an HTTP 500 before; found by the API's contract test).
GREEDY_BELOW = 1e-5


class M2TModel(nn.Module):
    """A protein-mutation-to-text model: ``adapter`` (trainable in stage 1) + ``llm`` (frozen, LoRA in stage 2).

    The prompt holds ``num_media_tokens`` copies of the ``<delta_P>`` id; their embeddings become
    ``E[<delta_P>] + tanh(g_media) * projector(...)``. No state is kept between calls: the protein
    features are arguments of ``forward`` and ``generate``.
    """

    def __init__(
        self,
        *,
        adapter: DeltaAdapter,
        llm: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        system_prompt: str,
        instruction: str,
        prompt_fields: Sequence[Field],
        prompt_field_words: int,
        delta_token: str,
        use_protein: bool,
        dim_in: int,
        encoder_id: str | None,
        new_token_ids: list[int],
    ) -> None:
        super().__init__()
        self.adapter, self.llm, self.tokenizer = adapter, llm, tokenizer
        self.system_prompt, self.instruction, self.delta_token = system_prompt, instruction, delta_token
        self.prompt_fields, self.prompt_field_words = tuple(prompt_fields), prompt_field_words
        self.use_protein = use_protein
        self.dim_in, self.encoder_id, self.new_token_ids = dim_in, encoder_id, list(new_token_ids)
        self.delta_token_id = tokenizer.convert_tokens_to_ids(delta_token)
        self.pad_id, self.eot_id = tokenizer.pad_token_id, end_of_turn_id(tokenizer)
        self.lora_merged = False  # set by merge_lora: the base weights then hold LoRA and must not be checkpointed

    @property
    def num_media_tokens(self) -> int:
        return self.adapter.num_media_tokens

    def prompt_ids(self, instruction: str | None = None, facts: PromptFacts | None = None) -> list[int]:
        """The generation prompt (``<delta_P>`` expanded) stating ``facts`` as configured; ``instruction`` replaces
        the configured one."""
        return prompt_ids(
            self.tokenizer,
            system_prompt=self.system_prompt,
            user=user_text(
                fields=self.prompt_fields,
                instruction=instruction or self.instruction,
                facts=facts,
                max_words=self.prompt_field_words,
            ),
            delta_token=self.delta_token,
            num_media_tokens=self.num_media_tokens if self.use_protein else 0,
        )

    def input_embeds(
        self,
        *,
        input_ids: torch.Tensor,
        wt_emb: torch.Tensor,
        wt_mask: torch.Tensor,
        mut_emb: torch.Tensor,
        mut_mask: torch.Tensor,
    ) -> torch.Tensor:
        """``(b, t, d_llm)`` LLM input embeddings: the adapter's vectors spliced in (:meth:`splice`), or the token
        embeddings alone for a text-only model (``use_protein`` false)."""
        if not self.use_protein:
            return self.llm.get_input_embeddings()(input_ids)
        media = self.adapter(wt_emb=wt_emb, wt_mask=wt_mask, mut_emb=mut_emb, mut_mask=mut_mask)  # (b, m, d_llm)
        return self.splice(input_ids=input_ids, media=media)

    def splice(self, *, input_ids: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        """Token embeddings with ``media`` added at the ``<delta_P>`` positions.

        Args:
            input_ids: ``(b, t)``; each row holds exactly ``num_media_tokens`` ``<delta_P>`` ids.
            media: ``(b, m, d_llm)`` gated adapter output, written in order into row ``i``'s slots.

        Returns:
            ``(b, t, d_llm)`` ``inputs_embeds`` for the LLM.
        """
        embeds = self.llm.get_input_embeddings()(input_ids)  # (b, t, d_llm)
        slots = input_ids == self.delta_token_id  # (b, t)
        counts = slots.sum(dim=1)
        if (counts != media.shape[1]).any():
            raise ValueError(
                f"every sequence needs exactly {media.shape[1]} {self.delta_token} ids (build them with "
                f"make_example); got {counts.tolist()}"
            )
        added = torch.zeros_like(embeds).masked_scatter(slots[..., None], media.to(embeds.dtype))  # (b, t, d_llm)
        return embeds + added

    def forward(
        self,
        *,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        wt_emb: torch.Tensor,
        wt_mask: torch.Tensor,
        mut_emb: torch.Tensor,
        mut_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> CausalLMOutputWithPast:
        """Teacher-forced pass.

        Args:
            input_ids: ``(b, t)`` from :func:`m2t.model.batching.collate`.
            attention_mask: ``(b, t)``, 1 = token, 0 = padding.
            wt_emb: ``(b, Lw, De)``; wt_mask: ``(b, Lw)`` bool, True = residue.
            mut_emb: ``(b, Lm, De)``; mut_mask: ``(b, Lm)`` bool, True = residue.
            labels: ``(b, t)`` with -100 on unsupervised tokens, or None.

        Returns:
            transformers' ``CausalLMOutputWithPast``: without ``labels``, ``logits`` (b, t, vocab); with ``labels``,
            ``loss`` alone (:func:`m2t.model.loss.answer_loss`: only supervised positions go through the LM head).
        """
        embeds = self.input_embeds(
            input_ids=input_ids, wt_emb=wt_emb, wt_mask=wt_mask, mut_emb=mut_emb, mut_mask=mut_mask
        )
        if labels is None:
            return self.llm(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False)
        hidden = self.llm.get_decoder()(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False)
        return CausalLMOutputWithPast(
            loss=answer_loss(self.llm.get_output_embeddings(), hidden.last_hidden_state, labels)
        )

    @torch.no_grad()
    def generate_ids(
        self,
        *,
        wt_emb: torch.Tensor,
        wt_mask: torch.Tensor,
        mut_emb: torch.Tensor,
        mut_mask: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        instructions: list[str] | None = None,
        facts: Sequence[PromptFacts | None] | None = None,
    ) -> torch.Tensor:
        """The answer token ids for a batch of mutations (:func:`m2t.model.decode.decode`: KV cache, each answer
        leaves the batch when it ends; greedy when ``temperature`` is 0, or under :data:`GREEDY_BELOW`, else nucleus
        sampling); each answer stops at the end-of-turn token (or eos), or after ``max_new_tokens``.

        Args:
            wt_emb: ``(b, Lw, De)``; wt_mask: ``(b, Lw)`` bool, True = residue.
            mut_emb: ``(b, Lm, De)``; mut_mask: ``(b, Lm)`` bool, True = residue.
            instructions: optional per-sample user instruction (default: the configured one).
            facts: optional per-sample facts the user turn states (``model.prompt_fields``); prompts of
                different lengths are left-padded.

        Returns:
            ``(b, n)`` new token ids, ``n <= max_new_tokens``; an answer that stopped early ends with its
            end-of-turn id followed by pad ids.
        """
        b = wt_emb.shape[0]
        for name, given in (("instructions", instructions), ("facts", facts)):
            if given is not None and len(given) != b:
                raise ValueError(f"got {len(given)} {name} for a batch of {b}")
        prompts = [self.prompt_ids(i, f) for i, f in zip(instructions or [None] * b, facts or [None] * b, strict=True)]
        device = self.llm.get_input_embeddings().weight.device
        input_ids, attention_mask = (t.to(device) for t in left_pad(prompts, pad_id=self.pad_id))
        was_training = self.training
        self.eval()
        try:
            embeds = self.input_embeds(
                input_ids=input_ids,
                wt_emb=wt_emb.to(device),
                wt_mask=wt_mask.to(device),
                mut_emb=mut_emb.to(device),
                mut_mask=mut_mask.to(device),
            )
            sample = temperature >= GREEDY_BELOW
            return decode(
                self.llm,
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                max_new_tokens=max_new_tokens,
                stop_ids=[i for i in (self.eot_id, self.tokenizer.eos_token_id) if i is not None],
                pad_id=self.pad_id,
                logits_processor=processors(
                    temperature=temperature if sample else None,
                    top_p=top_p if sample else None,
                    repetition_penalty=repetition_penalty,
                ),
                sample=sample,
            )
        finally:
            self.train(was_training)

    def generate(self, **kwargs) -> list[str]:
        """Describe a batch of mutations: :meth:`generate_ids` (same arguments) decoded, special tokens removed."""
        out = self.generate_ids(**kwargs)
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
