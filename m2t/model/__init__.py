"""The multimodal model: adapter (GCA -> resampler -> projector), ``<delta_P>`` splice into a chat LLM, LoRA, checkpoints."""

from m2t.model.adapter import DeltaAdapter
from m2t.model.batching import collate, left_pad, make_example, prompt_ids
from m2t.model.builder import build_adapter, build_model
from m2t.model.checkpoint import load_checkpoint, read_meta, save_checkpoint, trained_config
from m2t.model.freeze import set_trainable
from m2t.model.lora import apply_lora, merge_lora
from m2t.model.multimodal import M2TModel
from m2t.model.tokenizer import build_tokenizer, end_of_turn_id

__all__ = [
    "DeltaAdapter",
    "M2TModel",
    "apply_lora",
    "build_adapter",
    "build_model",
    "build_tokenizer",
    "collate",
    "end_of_turn_id",
    "left_pad",
    "load_checkpoint",
    "make_example",
    "merge_lora",
    "prompt_ids",
    "read_meta",
    "save_checkpoint",
    "set_trainable",
    "trained_config",
]
