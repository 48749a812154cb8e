"""Sizes of the real-size benchmark (``jobs/benchmark.py all --scale real``): the full models on one GPU, or
the same code paths at toy size on CPU (``--dry-run``), which checks the script while no GPU is at hand."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True, kw_only=True)
class RealScale:
    name: str
    device: str  # where everything runs
    # the models: ESM3-open (twin) and Llama-3.1-8B-Instruct (random weights), at these layers and dims
    esm3_layers: int = 48
    esm3_dims: dict = field(default_factory=dict)  # d_model / n_heads / v_heads overrides (dry run only)
    llm_layers: int = 32
    llm_dims: dict = field(default_factory=dict)  # LlamaConfig overrides (dry run only)
    model_dtype: str = "bfloat16"
    encoder_dtype: str = "bfloat16"
    # inputs: MutaDescribe-shaped records (m2t.bench.gpu.inputs)
    wild_types: int = 64
    length_scale: float = 1.0
    max_words: int | None = None
    # training: timed optimizer steps (after one warm-up) per variant; micro-batches beside the config's
    train_steps: int = 5
    extra_micro_batch: int | None = 16
    # generation through the describe path: batch sizes, tokens, timed calls per size (after one warm-up)
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    max_new_tokens: int = 64
    generate_repeats: int = 2
    matmul_size: int = 8192  # the bf16 matmul that measures the peak (the MFU denominator)
    budget_s: float = 330.0  # benchmarks not started by then are skipped (the whole run must end within 8 min)
    torch_threads: int | None = None  # None: torch's default

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)


REAL = RealScale(name="real", device="cuda")
# the same code paths on CPU: 2 layers, 64-d, Llama-3.1's vocabulary, GQA ratio and rope scaling kept
DRY = RealScale(
    name="dry",
    device="cpu",
    esm3_layers=2,
    esm3_dims={"d_model": 64, "n_heads": 4, "v_heads": 4},
    llm_layers=2,
    llm_dims={"hidden_size": 64, "intermediate_size": 224, "num_attention_heads": 4, "num_key_value_heads": 1},
    encoder_dtype="float32",
    wild_types=6,
    length_scale=0.1,
    max_words=12,
    train_steps=1,
    extra_micro_batch=None,
    batch_sizes=(1, 2),
    max_new_tokens=2,
    generate_repeats=1,
    matmul_size=256,
    budget_s=300.0,
    torch_threads=1,  # toy ops on a busy 2-core machine ran 4x slower on two threads
)
