"""Training-step benchmark: our stage-1 step vs the seed's, same model, same optimizer, same records.

*Ours*: the step of :func:`m2t.train.loop.train_loop_per_worker`: embeddings read from the store by
:class:`~m2t.train.batches.BatchMaker`, micro-batches regrouped by length
(:func:`~m2t.train.batches.length_groups`), dynamic padding (:func:`m2t.model.batching.collate`), and
the DeepSpeed ZeRO-2 engine of :func:`m2t.train.build.deepspeed_engine`, here as one worker (gloo,
world size 1) in this process. *Baseline*: the seed's step: each sample's wild type and mutant go
through the encoder one at a time inside the step, the text is padded to 1,536 tokens, and the
protein embeddings are padded with no masks (the seed passes none). Same engine builder, same
micro-batch size and the same records, so the differences are exactly those. The two engines' steps are interleaved
(the baseline's spread among ours) so that load drift on a shared machine hits both alike, and both
run with the torch threads Ray gives a training worker (``OMP_NUM_THREADS`` = its whole CPUs, at
least 1), as the real loop would.

*Prefetch*: see :mod:`m2t.bench.prefetch`.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from deepspeed.comm import comm as ds_comm

from m2t.bench.embed import bench_encoder_config, seed_embed
from m2t.bench.flops import step_flops
from m2t.bench.inputs import benchmark_records, describe_inputs
from m2t.bench.machine import machine_info, ray_worker_threads, torch_threads
from m2t.bench.prefetch import UNITS, prefetch_result, prefetch_sides
from m2t.bench.report import load_before, result
from m2t.bench.scales import Scale
from m2t.config import Config
from m2t.data.records import Record
from m2t.embed.store import EmbeddingStore
from m2t.encoders import build_encoder
from m2t.model.batching import IGNORE, collate, make_example, to_device
from m2t.train.batches import BatchMaker, length_groups
from m2t.train.build import deepspeed_engine, stage_model


@contextmanager
def single_process_group():
    """A gloo process group of world size 1 for DeepSpeed (reused when one exists; destroyed if made here,
    through DeepSpeed once it has cached subgroups of it, so that the next group in this process starts clean)."""
    if dist.is_initialized():
        yield
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_WORLD_SIZE": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        yield
    finally:
        if ds_comm.cdb is not None:
            ds_comm.destroy_process_group()  # also drops DeepSpeed's cached groups of this world
        else:
            dist.destroy_process_group()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def rows_of(records: list[Record]) -> dict[str, np.ndarray]:
    """A Ray Data-style numpy batch of records (the columns the training loop reads)."""
    return {
        "id": np.array([r.id for r in records]),
        "wild_type": np.array([r.wild_type for r in records]),
        "mutant": np.array([r.mutant for r in records]),
        "description": np.array([r.description for r in records]),
    }


def seed_batch(records: list[Record], *, encoder, tokenizer, cfg: Config, pad_to: int) -> dict[str, torch.Tensor]:
    """The seed's batch: embeddings computed now, one sequence at a time; text padded to ``pad_to``; no protein masks."""
    examples = [
        {
            **make_example(tokenizer, cfg.model, r.description),
            "wt_emb": seed_embed(encoder, r.wild_type),
            "mut_emb": seed_embed(encoder, r.mutant),
        }
        for r in records
    ]
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    b, t = batch["input_ids"].shape
    if t < pad_to:
        extra = pad_to - t
        batch["input_ids"] = torch.cat([batch["input_ids"], torch.full((b, extra), tokenizer.pad_token_id)], dim=1)
        batch["attention_mask"] = torch.cat([batch["attention_mask"], torch.zeros(b, extra, dtype=torch.long)], dim=1)
        batch["labels"] = torch.cat([batch["labels"], torch.full((b, extra), IGNORE)], dim=1)  # (b, pad_to)
    batch["input_ids"], batch["attention_mask"], batch["labels"] = (
        batch[k][:, :pad_to] for k in ("input_ids", "attention_mask", "labels")
    )
    batch["wt_mask"] = torch.ones_like(batch["wt_mask"])  # the seed attends to padding too
    batch["mut_mask"] = torch.ones_like(batch["mut_mask"])
    return batch


def _step(engine, batch: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    """One optimizer step, as in the training loop (grad_accum 1)."""
    batch = to_device(batch, device=engine.device, dtype=dtype)
    loss = engine(**batch).loss
    engine.backward(loss)
    engine.step()


def interleave(ours: int, baseline: int) -> list[str]:
    """The order of timed steps: the baseline's spread evenly among ours, so load drift on a shared machine hits both."""
    order: list[str] = []
    for k in range(baseline):
        order += ["ours"] * (ours * (k + 1) // baseline - ours * k // baseline) + ["baseline"]
    return order


def _timed(order: list[str], sides: dict) -> dict[str, tuple[float, list[dict[str, torch.Tensor]]]]:
    """Per side ``(seconds, batches)`` of the steps in ``order`` (after one untimed warm-up step each);
    ``sides[name] = (engine, make_batch(i), dtype)``; each batch is made inside its timed step."""
    for engine, make_batch, dtype in sides.values():
        _step(engine, make_batch(-1), dtype)
    spent = {name: 0.0 for name in sides}
    batches: dict[str, list] = {name: [] for name in sides}
    for name in order:
        engine, make_batch, dtype = sides[name]
        started = time.perf_counter()
        batch = make_batch(len(batches[name]))
        _step(engine, batch, dtype)
        spent[name] += time.perf_counter() - started
        batches[name].append(batch)
    return {name: (spent[name], batches[name]) for name in sides}


def run_train(cfg: Config, scale: Scale, *, workdir: Path, records: list[Record] | None = None) -> list[dict]:
    """The ``train`` result: ``scale.train_steps`` of ours vs ``scale.baseline_train_steps`` of the seed's, both
    with the torch threads a Ray Train worker of ``train.cpus_per_worker`` CPUs gets."""
    with torch_threads(ray_worker_threads(cfg.train.cpus_per_worker)):
        return _run_train(cfg, scale, workdir=workdir, records=records)


def _run_train(cfg: Config, scale: Scale, *, workdir: Path, records: list[Record] | None) -> list[dict]:
    before = load_before()
    records = (
        records
        if records is not None
        else benchmark_records(
            wild_types=scale.wild_types, length_scale=scale.length_scale, min_length=scale.min_length
        )
    )
    encoder = build_encoder(bench_encoder_config(cfg, scale))  # the seed's way needs an ESM SDK encoder
    unique = list(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)))
    store_dir = workdir / "train_store"
    shutil.rmtree(store_dir, ignore_errors=True)  # a fresh store each run
    store = EmbeddingStore.open_or_create(
        store_dir, encoder_id=encoder.encoder_id, hidden_size=encoder.hidden_size, dtype=cfg.embed.dtype
    )
    embedded = encoder.embed(unique)
    store.write_shard(unique, embedded)
    stage_cfg = cfg.train.pretrain
    size = stage_cfg.micro_batch_size

    def chunk(i: int) -> list[Record]:
        start = (i + 1) * size % len(records)  # step -1 is the warm-up
        return [records[(start + j) % len(records)] for j in range(size)]

    # ours takes the same record stream as chunk() and, as the loop does, regroups every group_by_length
    # micro-batches' worth of it by length (step -1, the warm-up, is grouped[0])
    mega, rng = size * stage_cfg.group_by_length, np.random.default_rng(cfg.train.seed)
    stream = [records[j % len(records)] for j in range(-(-(scale.train_steps + 1) * size // mega) * mega)]
    grouped = [
        part
        for g in range(0, len(stream), mega)
        for part in length_groups(rows_of(stream[g : g + mega]), batch_size=size, rng=rng)
    ]

    common = {
        "stage": "pretrain",
        "init": None,
        "resume": None,
        "encoder_id": encoder.encoder_id,
        "dim_in": encoder.hidden_size,
    }
    with single_process_group():
        torch.manual_seed(cfg.train.seed)
        model = stage_model(cfg, **common)
        engine, _, dtype = deepspeed_engine(model, cfg, stage_cfg=stage_cfg, world_size=1)
        make = BatchMaker(tokenizer=model.tokenizer, model_cfg=cfg.model, store=str(store_dir))
        torch.manual_seed(cfg.train.seed)
        seed_model = stage_model(cfg, **common)
        seed_engine, _, _ = deepspeed_engine(seed_model, cfg, stage_cfg=stage_cfg, world_size=1)
        machine = {**machine_info(dtype=dtype, device=engine.device), "loadavg_1m_before": before}
        timed = _timed(
            interleave(scale.train_steps, scale.baseline_train_steps),
            {
                "ours": (engine, lambda i: make(grouped[i + 1]), dtype),
                "baseline": (
                    seed_engine,
                    lambda i: seed_batch(
                        chunk(i), encoder=encoder, tokenizer=model.tokenizer, cfg=cfg, pad_to=scale.train_pad_to
                    ),
                    dtype,
                ),
            },
        )
        depth = cfg.train.prefetch_batches or 2
        prefetch_s = prefetch_sides(
            lambda batch: _step(engine, batch, dtype),
            make,
            grouped[1 : scale.train_steps + 1],
            depth=depth,
            store=(unique, embedded, encoder, cfg),
        )
        machine["loadavg_1m_after"] = load_before()
    (ours_s, ours_batches), (base_s, base_batches) = timed["ours"], timed["baseline"]
    torch.manual_seed(cfg.train.seed)
    flops_model = stage_model(cfg, **common)
    flops = step_flops(flops_model, [to_device(b, device=engine.device, dtype=dtype) for b in ours_batches])
    peak = machine["matmul_flops"]

    def side(seconds: float, batches: list[dict[str, torch.Tensor]], how: str) -> dict:
        tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        padded = sum(b["input_ids"].numel() for b in batches)
        samples = sum(b["input_ids"].shape[0] for b in batches)
        return {
            "value": samples / seconds,
            "seconds": round(seconds, 3),
            "steps": len(batches),
            "samples": samples,
            "tokens_per_s": tokens / seconds,
            "padded_tokens_per_step": padded / len(batches),
            "how": how,
        }

    ours = side(
        ours_s,
        ours_batches,
        f"store embeddings (BatchMaker), dynamic padding, length-grouped micro-batches "
        f"(group_by_length={stage_cfg.group_by_length}), DeepSpeed ZeRO-2 step",
    )
    ours.update(
        flops_per_step=flops / len(ours_batches),
        flops_per_s=flops / ours_s,
        share_of_peak=round(flops / ours_s / peak, 4),
    )
    baseline = side(
        base_s,
        base_batches,
        f"encoder inside the step (one sequence at a time), text padded to "
        f"{scale.train_pad_to} tokens, no protein masks; same DeepSpeed ZeRO-2 step",
    )
    inputs = {
        **describe_inputs(records),
        "encoder_id": encoder.encoder_id,
        "llm": cfg.model.llm,
        "micro_batch_size": size,
        "pad_to": scale.train_pad_to,
        "zero_stage": 2,
        "world_size": 1,
        "torch_threads": torch.get_num_threads(),
    }
    prefetch_results = [
        prefetch_result(spent, where=where, batches=ours_batches, depth=depth, inputs=inputs, machine=machine)
        for where, spent in prefetch_s.items()
    ]
    return [
        result(
            benchmark="train",
            ours=ours,
            baseline=baseline,
            units=UNITS,
            inputs=inputs,
            machine=machine,
            target={"rule": ">= 5x", "met": bool(ours["value"] >= 5 * baseline["value"])},
        ),
        *prefetch_results,
    ]
