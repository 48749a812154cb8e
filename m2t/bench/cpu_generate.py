"""``generate_real_cpu``: describing the study's test rows with the real weights (SmolLM2-135M-Instruct) on CPU, ours
against plain ``model.generate`` (:mod:`m2t.bench.plain`).

*Ours*: :meth:`m2t.infer.describer.Describer.describe` on a stage-2 checkpoint of the study's m2t model (untrained:
the study's own checkpoints need its training first; its adapter gate opened to :data:`OPEN_GATE`, as a trained one
is, since a shut gate makes :meth:`~m2t.infer.describer.Describer.describe` skip the encoder), the real prompts with
``<delta_P>``, the encoder run on every wild type and mutant, in chunks of ``generation.batch_size``. *Baselines*:
the plain model (``AutoModelForCausalLM``) on the text-only prompt, ``model.generate`` on the same chunks
left-padded, and one row at a time (the first ``real_single_per_chunk`` rows of each chunk). Greedy, with the config's ``generation.max_new_tokens`` and
``repetition_penalty`` on every side. The three are interleaved chunk by chunk, in turns, on this process's threads.

New tokens are each answer's tokens up to and including its end-of-turn token (the work a caller gets back).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from m2t.bench.machine import machine_info
from m2t.bench.plain import answer_tokens, generate, load, peak_rss_gib, prompt
from m2t.bench.report import load_before, result
from m2t.bench.scales import Scale
from m2t.bench.smollm2 import study_rows, timed_prompt
from m2t.config import Config
from m2t.data.records import Record
from m2t.infer.describer import Describer, query_of
from m2t.study.variants import untrained_checkpoint

UNITS = "descriptions/s (greedy, SmolLM2-135M-Instruct, CPU)"
log = logging.getLogger(__name__)
OPEN_GATE = 0.05  # tanh(10 x 0.05) = 0.46


def counting(describer: Describer) -> list[int]:
    """A one-item list that counts the new tokens of every answer ``describer`` generates from now on."""
    count, model = [0], describer.model
    generate_ids = model.generate_ids

    def counted(**kwargs) -> torch.Tensor:
        out = generate_ids(**kwargs)
        count[0] += answer_tokens(out, eot=model.eot_id)
        return out

    model.generate_ids = counted
    return count


def side(seconds: float, *, rows: int, tokens: int, how: str, **extra) -> dict:
    return {
        "value": rows / seconds,
        "seconds": round(seconds, 2),
        "descriptions": rows,
        "new_tokens": tokens,
        "new_tokens_per_s": round(tokens / seconds, 2),
        "how": how,
        **extra,
    }


def run_generate_real_cpu(
    cfg: Config, scale: Scale, *, workdir: Path, records: list[Record] | None = None
) -> list[dict]:
    """``generate_real_cpu`` (ours ÷ plain batched) and ``generate_real_cpu_single`` (ours ÷ plain one at a time)."""
    before = load_before()
    cfg = timed_prompt(cfg)  # the same prompt as the plain script's
    _, test_rows = study_rows(cfg)
    rows = test_rows[: scale.real_test_rows]
    gen = cfg.generation
    if scale.real_max_new_tokens is not None:
        gen = gen.model_copy(update={"max_new_tokens": scale.real_max_new_tokens})
        cfg = cfg.model_copy(update={"generation": gen})
    machine = {**machine_info(), "loadavg_1m_before": before}
    checkpoint = untrained_checkpoint(cfg, workdir / "generate_checkpoint", stage="finetune")
    describer = Describer(checkpoint=checkpoint, cfg=cfg)
    with torch.no_grad():  # open the fresh adapter's gate, as training does: a shut gate would skip the encoder
        describer.model.adapter.media_gate.gate.fill_(OPEN_GATE)
    ours_tokens = counting(describer)
    plain, tokenizer = load(str(cfg.model.llm))
    plain.eval()
    settings = {"max_new_tokens": gen.max_new_tokens, "repetition_penalty": gen.repetition_penalty}
    spent = {"ours": 0.0, "batched": 0.0, "single": 0.0}
    tokens = {"batched": 0, "single": 0}
    singles = 0
    chunks = [rows[i : i + gen.batch_size] for i in range(0, len(rows), gen.batch_size)]

    def ours(chunk: list[Record]) -> None:
        describer.describe([query_of(r) for r in chunk])

    def batched(chunk: list[Record]) -> None:
        tokens["batched"] += generate(plain, tokenizer, [prompt(tokenizer, cfg, r) for r in chunk], **settings)[1]

    def single(chunk: list[Record]) -> None:
        nonlocal singles
        for r in chunk[: scale.real_single_per_chunk]:
            tokens["single"] += generate(plain, tokenizer, [prompt(tokenizer, cfg, r)], **settings)[1]
            singles += 1

    sides = {"ours": ours, "batched": batched, "single": single}
    for warm_up in sides.values():
        warm_up(chunks[0][:1])
    ours_tokens[0], tokens, singles = 0, {"batched": 0, "single": 0}, 0
    for i, chunk in enumerate(chunks):
        names = list(sides)
        for name in names[i % 3 :] + names[: i % 3]:  # each side first in turn
            started = time.perf_counter()
            sides[name](chunk)
            spent[name] += time.perf_counter() - started
        log.info(
            "generate_real_cpu: chunk %d/%d done (%d rows); seconds so far: %s",
            i + 1,
            len(chunks),
            len(chunk),
            ", ".join(f"{k} {v:.0f}" for k, v in spent.items()),
        )
    machine["loadavg_1m_after"] = load_before()
    machine["peak_rss_gib"] = peak_rss_gib()  # this process: our model and encoder, and the plain model
    mine = side(
        spent["ours"],
        rows=len(rows),
        tokens=ours_tokens[0],
        how=f"Describer.describe of a stage-2 checkpoint (untrained m2t), real prompts with <delta_P>, encoder on "
        f"every wild type and mutant, chunks of generation.batch_size={gen.batch_size}",
    )
    padded = side(
        spent["batched"],
        rows=len(rows),
        tokens=tokens["batched"],
        how=f"plain model.generate on the text-only prompt, left-padded batches of {gen.batch_size}",
    )
    one = side(spent["single"], rows=singles, tokens=tokens["single"], how="plain model.generate, one row at a time")
    inputs = {
        "rows": len(rows),
        "test_files": [Path(str(t)).name for t in cfg.study.tests],
        "llm": str(cfg.model.llm),
        "max_new_tokens": gen.max_new_tokens,
        "repetition_penalty": gen.repetition_penalty,
        "batch_size": gen.batch_size,
        "torch_threads": torch.get_num_threads(),
    }
    return [
        result(
            benchmark="generate_real_cpu",
            ours=mine,
            baseline=padded,
            units=UNITS,
            inputs=inputs,
            machine=machine,
            target={"rule": ">= 1.0x (goal 1.5x)", "met": bool(mine["value"] >= padded["value"])},
        ),
        result(
            benchmark="generate_real_cpu_single",
            ours=mine,
            baseline=one,
            units=UNITS,
            inputs=inputs,
            machine=machine,
            target={"rule": ">= 4x", "met": bool(mine["value"] >= 4 * one["value"])},
        ),
    ]
