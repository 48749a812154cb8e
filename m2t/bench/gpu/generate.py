"""Real-size generation through m2t's describe path: :class:`m2t.infer.describer.Describer` on a checkpoint of
the trained random model (loaded as inference loads it: the base from its directory, LoRA merged, the encoder
rebuilt from the checkpoint's config), describing batches of 1, 8 and 32 (wild type, mutant) pairs.

Each call encodes its wild types and mutants (``wt_cache_size=0``: every request as if new) and decodes
greedily ``max_new_tokens`` tokens. Per-request latency is the call's wall time (every request of a batch
waits for the whole batch); tokens/s counts the LLM's forward calls (prefill + decode steps, one token per
sequence each; random weights rarely emit an end-of-turn token before the limit) times the batch size.
"""

from __future__ import annotations

import time
from pathlib import Path

from m2t.bench.gpu.scale import RealScale
from m2t.bench.machine import peak_memory_gib, reset_peak_memory, synchronize
from m2t.bench.report import result
from m2t.config import Config
from m2t.data.records import Record

UNITS = "generated tokens/s (all sequences of a describe call)"


def run_real_generate(
    cfg: Config, checkpoint: Path, records: list[Record], *, scale: RealScale, machine: dict
) -> list[dict]:
    """One ``real_describe_b<N>`` result per batch size; the baseline of each is batch size 1."""
    from m2t.infer.describer import Describer

    device = scale.torch_device
    started = time.perf_counter()
    describer = Describer(checkpoint=checkpoint, cfg=cfg, wt_cache_size=0)
    load_s = time.perf_counter() - started
    forwards = [0]
    hook = describer.model.llm.register_forward_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    pairs = [(r.wild_type, r.mutant) for r in records]
    offset = 0
    sides = {}
    try:
        for b in scale.batch_sizes:

            def call(b: int = b) -> tuple[float, int]:
                nonlocal offset
                chunk = [pairs[(offset + i) % len(pairs)] for i in range(b)]
                offset += b
                forwards[0] = 0
                synchronize(device)
                t = time.perf_counter()
                texts = describer.describe(chunk, max_new_tokens=scale.max_new_tokens, temperature=0.0)
                synchronize(device)
                assert len(texts) == b
                return time.perf_counter() - t, forwards[0]

            call()  # warm-up at this batch size
            reset_peak_memory(device)
            runs = [call() for _ in range(scale.generate_repeats)]
            seconds = sum(s for s, _ in runs)
            tokens = b * sum(n for _, n in runs)
            sides[b] = {
                "value": tokens / seconds,
                "batch_size": b,
                "calls": len(runs),
                "latency_s": [round(s, 3) for s, _ in runs],
                "mean_latency_s": round(seconds / len(runs), 3),
                "tokens_per_sequence": [n for _, n in runs],
                "peak_memory_gib": peak_memory_gib(device),
                "how": f"Describer.describe of {b} pairs (encode both, splice, generate), greedy",
            }
    finally:
        hook.remove()
    inputs = {
        "checkpoint": "stage-2 checkpoint of the random-weight model",
        "max_new_tokens": scale.max_new_tokens,
        "encoder_id": describer.encoder.encoder_id,
        "load_checkpoint_s": round(load_s, 1),
        "wt_cache_size": 0,
        "generation_batch_size": cfg.generation.batch_size,
    }
    first = sides[scale.batch_sizes[0]]
    return [
        result(
            benchmark=f"real_describe_b{b}",
            ours=side,
            baseline=first,
            units=UNITS,
            inputs=inputs,
            machine=machine,
            target={"rule": "reported", "met": None},
        )
        for b, side in sides.items()
    ]
