"""Real-size encoder benchmark: ESM3-open's twin on MutaDescribe-shaped lengths, batched by m2t vs one at a time.

*Ours*: what an encoder actor does: every distinct sequence once, sorted by length, in chunks of
``embed.batch_sequences`` through ``encoder.embed`` (micro-batches of ``encoder.token_budget`` padded tokens,
at most ``encoder.max_padding`` of them padding). *Baseline*: the wild type and the mutant of every record,
one sequence per ``encoder.embed`` call. Both in the encoder's dtype on the benchmark's device; MFU is the
model FLOPs of the real tokens (:func:`m2t.plan.flops.encoder_forward_flops`) over time over the measured
matmul peak.
"""

from __future__ import annotations

import time

import torch

from m2t.bench.flops import encoder_side
from m2t.bench.gpu.inputs import POINTS, WT_LENGTHS
from m2t.bench.machine import peak_memory_gib, reset_peak_memory, synchronize
from m2t.bench.report import result
from m2t.config import Config
from m2t.data.records import Record
from m2t.plan.flops import encoder_forward_flops, matmul_params

UNITS = "residues/s (wild-type + mutant residues of every record)"


def _timed(encoder, batches: list[list[str]]) -> float:
    synchronize(encoder.device)
    started = time.perf_counter()
    for chunk in batches:
        encoder.embed(chunk)
    synchronize(encoder.device)
    return time.perf_counter() - started


def run_real_embed(cfg: Config, encoder, records: list[Record], *, machine: dict) -> dict:
    """The ``real_embed`` result (the encoder is built by the caller, who keeps it for the training inputs)."""
    distinct = sorted(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)), key=len)
    size = cfg.embed.batch_sequences
    ours_batches = [distinct[i : i + size] for i in range(0, len(distinct), size)]
    one_at_a_time = [[s] for r in records for s in (r.wild_type, r.mutant)]
    _timed(encoder, [distinct[:2], distinct[-2:], [distinct[-1]]])  # warm-up: kernels for short and long
    reset_peak_memory(encoder.device)
    calls = encoder.forward_calls
    ours_s = _timed(encoder, ours_batches)
    micro = encoder.forward_calls - calls
    ours_peak = peak_memory_gib(encoder.device)
    base_s = _timed(encoder, one_at_a_time)
    workload = sum(len(r.wild_type) + len(r.mutant) for r in records)
    peak = machine["matmul_flops"]

    def side(seconds: float, lengths: list[int], how: str, **extra) -> dict:
        flops = encoder_forward_flops(encoder.model, lengths)
        return encoder_side(
            seconds, lengths, workload=workload, flops=flops, peak=peak, how=how, peak_key="mfu", **extra
        )

    ours = side(
        ours_s,
        [len(s) for s in distinct],
        f"distinct sequences, length-sorted, chunks of embed.batch_sequences={size} through encoder.embed "
        f"(token_budget={encoder.token_budget}, max_padding={encoder.max_padding})",
        micro_batches=micro,
        peak_memory_gib=ours_peak,
    )
    baseline = side(base_s, [len(s[0]) for s in one_at_a_time], "every record's wild type and mutant, one per call")
    inputs = {
        "records": len(records),
        "distinct_sequences": len(distinct),
        "residues": workload,
        "wt_lengths": f"MutaDescribe's {POINTS} wild-type length quantiles {WT_LENGTHS[0]}..{WT_LENGTHS[-1]}",
        "encoder_id": encoder.encoder_id,
        "dtype": str(encoder.dtype).removeprefix("torch."),
        "matmul_params": matmul_params(encoder.model),
    }
    return result(
        benchmark="real_embed",
        ours=ours,
        baseline=baseline,
        units=UNITS,
        inputs=inputs,
        machine=machine,
        target={"rule": "reported", "met": None},
    )


def encoder_inputs(encoder, records: list[Record], *, store_dtype: str) -> dict[str, torch.Tensor]:
    """Every distinct sequence's embedding, rounded through the store dtype as training reads it."""
    from m2t.embed.actor import round_to

    distinct = list(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)))
    return {
        s: torch.from_numpy(round_to(e, store_dtype)) for s, e in zip(distinct, encoder.embed(distinct), strict=True)
    }
