"""Tokenizers: a tiny byte-level BPE trained offline with Llama-3-style specials, or a hub/local one.

Both end up with the same contract: a chat template, a ``<delta_P>`` special token, an end-of-turn
token and a dedicated pad token (never ``pad = unk``; Llama-3 has no unk).
"""

from __future__ import annotations

import logging

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from m2t.config import ModelConfig
from m2t.data.amino_acids import NAMES, STANDARD
from m2t.data.synthetic import generate

log = logging.getLogger(__name__)

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
START_HEADER, END_HEADER, EOT = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"
PAD = "<|finetune_right_pad_id|>"  # Llama-3.1's own reserved pad token; added when a tokenizer lacks it
ANSWER_SENTINEL = "M2T-ANSWER-SENTINEL"  # assistant content rendered to find what the template writes after it
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


def tiny_corpus(model_cfg: ModelConfig) -> list[str]:
    """The deterministic training text of the tiny BPE: synthetic descriptions, the prompts, residue names.

    Fixed generator arguments (not ``data.synthetic``), so the tokenizer depends on the model config only.
    """
    records = generate(
        n_proteins=200, mutants_per_protein=5, min_length=30, max_length=120, seed=model_cfg.tiny_llm.seed
    )
    names = " ".join(NAMES[a] for a in STANDARD)
    texts = [model_cfg.system_prompt, model_cfg.instruction, "system user assistant", names, names.title()]
    return texts + [r.description for r in records if r.description]


def train_tiny_tokenizer(model_cfg: ModelConfig) -> PreTrainedTokenizerFast:
    """Train the tiny byte-level BPE (deterministic: same config, same vocab, in any process)."""
    specials = [BOS, EOS, START_HEADER, END_HEADER, EOT, PAD, model_cfg.delta_token]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=model_cfg.tiny_llm.vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tiny_corpus(model_cfg), trainer=trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bpe.token_to_id(BOS))]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[START_HEADER, END_HEADER, EOT, model_cfg.delta_token],
    )
    tok.chat_template = LLAMA3_CHAT_TEMPLATE
    return tok


def add_m2t_tokens(tok: PreTrainedTokenizerBase, delta_token: str) -> PreTrainedTokenizerBase:
    """Give a hub tokenizer ``delta_token`` and a dedicated pad token (Llama-3.1's reserved one if it has it).

    A pad that is the unk, eos or end-of-turn token (SmolLM2's GGUF says pad = eos = ``<|im_end|>``) is replaced,
    so no real token is ever a pad id; labels and attention masks are explicit either way.
    """
    if tok.chat_template is None:
        raise ValueError(f"tokenizer {tok.name_or_path!r} has no chat template; use an instruct/chat model")
    if tok.convert_tokens_to_ids(delta_token) in (None, tok.unk_token_id):
        tok.add_special_tokens({"additional_special_tokens": [delta_token]}, replace_additional_special_tokens=False)
    if tok.pad_token is None or tok.pad_token_id in (tok.unk_token_id, tok.eos_token_id, end_of_turn_id(tok)):
        if PAD in tok.get_vocab():
            tok.pad_token = PAD
        else:
            tok.add_special_tokens({"pad_token": PAD})
    return tok


def build_tokenizer(model_cfg: ModelConfig) -> PreTrainedTokenizerFast:
    """The tokenizer for ``model_cfg.llm``: the offline tiny BPE for ``tiny``, else the hub/local one + our tokens."""
    if model_cfg.llm == "tiny":
        tok = train_tiny_tokenizer(model_cfg)
    else:
        tok = add_m2t_tokens(
            AutoTokenizer.from_pretrained(model_cfg.llm, trust_remote_code=model_cfg.trust_remote_code),
            model_cfg.delta_token,
        )
    tok.padding_side = "right"
    end_of_turn_id(tok)  # refuse a chat template without an end-of-turn token now, naming the tokenizer
    log.info("tokenizer %s: %d tokens, pad=%s, delta=%s", model_cfg.llm, len(tok), tok.pad_token, model_cfg.delta_token)
    return tok


def end_of_turn_id(tok: PreTrainedTokenizerBase) -> int:
    """The id that ends an assistant turn: the special token the chat template writes right after an
    assistant message (``<|eot_id|>`` for Llama-3, ``<|im_end|>`` for ChatML). Answers are supervised up to
    and including it, and generation stops on it.

    Raises:
        ValueError: naming the tokenizer, when its template writes no special token there.
    """
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": ANSWER_SENTINEL},
    ]
    text = tok.apply_chat_template(messages, tokenize=False)
    after = text[text.rindex(ANSWER_SENTINEL) + len(ANSWER_SENTINEL) :] if ANSWER_SENTINEL in text else None
    ids = tok(after, add_special_tokens=False)["input_ids"] if after else []
    special = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
    if not ids or ids[0] not in special:
        raise ValueError(
            f"tokenizer {tok.name_or_path!r}: its chat template writes {after!r} after an assistant "
            f"message, not a special token; m2t needs an end-of-turn token to end answers and stop "
            f"generation (use a chat model whose template closes each turn with one)"
        )
    return ids[0]
