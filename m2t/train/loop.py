"""``train_loop_per_worker``: one training stage on one Ray Train worker, under DeepSpeed ZeRO-2.

Each optimizer step (``grad_accum`` micro-batches on every worker, each supervised token weighing the same:
:func:`m2t.train.batches.token_weighted`) logs loss, lr, grad norm, tokens/s, samples/s and the padding share
to Ray Train and, on rank 0, to ``metrics.jsonl``, the MLflow run and a progress line (the first step of each start or restart also names
each rank's Ray node, ``worker_nodes``). Val loss runs
every ``eval_every`` steps, at every checkpoint and at the end; a checkpoint (see :mod:`m2t.train.state`)
is reported every ``checkpoint_every`` steps, at every new val-loss low and at the end. The stage ends after its
``steps`` or, with ``patience``, once val loss stops improving (:mod:`m2t.train.early_stop`); the last row says why
(``stop_reason``). A restarted worker group (a failure, or a rerun of the same run) resumes from
``ray.train.get_checkpoint()``: weights, optimizer, scheduler, step, RNG and the early-stopping state.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import ray
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from m2t.config import Config
from m2t.data.neighbours import NeighbourIndex
from m2t.model.batching import to_device
from m2t.model.checkpoint import RUN_MODEL
from m2t.progress import Progress
from m2t.tracking import RunRef, Tracker
from m2t.train.batches import BatchMaker, epochs, supervised_tokens, token_weighted
from m2t.train.build import deepspeed_engine, stage_model
from m2t.train.early_stop import LOW, EarlyStop
from m2t.train.metrics import MetricsWriter
from m2t.train.prefetch import prefetch
from m2t.train.state import load_state, save_state
from m2t.train.validation import sample_generations, val_loss

log = logging.getLogger(__name__)


def train_loop_per_worker(config: dict) -> None:
    """Train ``config["stage"]``. ``config`` is built by :func:`m2t.train.trainer.build_trainer`:

    ``config`` (the validated :class:`Config` as JSON data), ``stage``, ``init`` (stage-1 checkpoint dir for
    stage 2), ``encoder_id``, ``dim_in`` and ``max_residues`` (of the embeddings), ``store`` (embedding store dir, or None
    when the rows carry embeddings), ``out_dir`` (rank 0's metrics), ``has_val``, ``tracking`` (the MLflow run
    as :class:`m2t.tracking.RunRef` data, or None; rank 0 logs to it and prints the progress line),
    ``after_report``: None, or a picklable callable ``(step=, rank=)`` every worker calls after each step's
    report (how tests and drills inject faults from the outside, e.g. SIGKILL one rank after a given step);
    ``limit``: what the stage's ``steps`` stand for when they run out (``steps`` or ``max_epochs``: the stop reason);
    ``neighbours``: the train split's neighbour index (a file every worker reads; None unless the prompt states the
    ``neighbour`` field), saved into every checkpoint.
    The stage's step counts in ``config`` are already in steps (:func:`m2t.plan.epochs.resolve_schedule`).
    """
    cfg = Config.model_validate(config["config"])
    stage, init, store, out_dir = config["stage"], config["init"], config["store"], Path(config["out_dir"])
    encoder_id, dim_in, has_val = config["encoder_id"], config["dim_in"], config["has_val"]
    after_report, tracking, limit = config.get("after_report"), config.get("tracking"), config.get("limit", "steps")
    stage_cfg = getattr(cfg.train, stage)
    neighbours = NeighbourIndex.load(config["neighbours"]) if config.get("neighbours") else None
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.train.seed)  # every rank builds the same fresh adapter / LoRA

    with ExitStack() as stack:
        reported = ray.train.get_checkpoint()
        ckpt = Path(stack.enter_context(reported.as_directory())) if reported is not None else None
        model = stage_model(
            cfg, stage=stage, init=init, resume=ckpt / RUN_MODEL if ckpt else None, encoder_id=encoder_id, dim_in=dim_in
        )
        engine, scheduler, dtype = deepspeed_engine(model, cfg, stage_cfg=stage_cfg, world_size=world)
        info = load_state(engine, ckpt=ckpt, rank=rank) if ckpt else {"step": 0, "epoch": -1}
    stop = EarlyStop.restore(patience=stage_cfg.patience, state=info.get("early_stop"))
    step = resumed_from = engine.global_steps
    nodes: list = [None] * world  # each rank's Ray node id, in rank order
    dist.all_gather_object(nodes, ray.get_runtime_context().get_node_id())
    if ckpt is None:
        torch.manual_seed(cfg.train.seed * 1000 + rank + 1)  # per-rank dropout streams (restored on resume)
    else:
        log.info("rank %d: resumed %s at step %d from %s", rank, stage, step, reported.path)

    writer = None
    if rank == 0:
        progress = Progress(
            what=stage, total=stage_cfg.steps, unit="step", every_s=cfg.output.progress_every_s, done=step
        )
        tracker = Tracker(RunRef(**tracking)) if tracking else None
        writer = MetricsWriter(out_dir=out_dir, start_step=step, tracker=tracker, progress=progress)
    make = BatchMaker(  # validation's, on this thread
        tokenizer=model.tokenizer,
        model_cfg=cfg.model,
        store=store,
        max_residues=config["max_residues"],
        long_sequences=cfg.encoder.long_sequences,
        neighbours=neighbours,
    )
    val_shard = ray.train.get_dataset_shard("val") if has_val else None
    batches = prefetch(  # train batches made train.prefetch_batches ahead in a thread, with a tokenizer of its own
        epochs(
            ray.train.get_dataset_shard("train"),
            make=BatchMaker(
                tokenizer=copy.deepcopy(model.tokenizer),
                model_cfg=cfg.model,
                store=store,
                max_residues=config["max_residues"],
                long_sequences=cfg.encoder.long_sequences,
                neighbours=neighbours,
            ),
            batch_size=stage_cfg.micro_batch_size,
            seed=cfg.train.seed * 1000 + rank,
            start_epoch=info["epoch"] + 1,
            group=stage_cfg.group_by_length,
        ),
        depth=cfg.train.prefetch_batches,
    )
    epoch = info["epoch"]
    engine.train()
    while step < stage_cfg.steps and stop.stop_reason is None:
        started = time.perf_counter()
        lr = scheduler.get_last_lr()[0]
        micro = [next(batches) for _ in range(stage_cfg.grad_accum)]  # (epoch, batch) each
        epoch = micro[-1][0]
        counts = [supervised_tokens(batch) for _, batch in micro]
        step_tokens = torch.tensor(float(sum(counts)), dtype=torch.float64, device=engine.device)
        dist.all_reduce(step_tokens)  # every worker's: each supervised token of the step weighs the same
        # (loss × supervised tokens, supervised tokens, input tokens, samples, all tokens with the padding)
        local = torch.zeros(5, dtype=torch.float64, device=engine.device)
        for (_, batch), n in zip(micro, counts, strict=True):
            batch = to_device(batch, device=engine.device, dtype=dtype)
            loss = engine(**batch).loss  # mean over the micro-batch's supervised tokens
            engine.backward(
                token_weighted(loss, tokens=n, step_tokens=float(step_tokens), parts=world * stage_cfg.grad_accum)
            )
            engine.step()
            local += torch.tensor(
                [
                    loss.item() * n,
                    n,
                    batch["attention_mask"].sum().item(),
                    batch["input_ids"].shape[0],
                    batch["input_ids"].numel(),
                ],
                dtype=torch.float64,
                device=engine.device,
            )
        dist.all_reduce(local)
        seconds = time.perf_counter() - started
        step = engine.global_steps
        norm = engine.get_global_grad_norm()
        row = {
            "step": step,
            "epoch": epoch,
            "loss": float(local[0] / local[1]) if local[1] else float("nan"),  # token-weighted, like val loss
            "lr": lr,
            "grad_norm": None if norm is None else float(norm),
            "tokens_per_s": float(local[2]) / seconds,
            "samples_per_s": float(local[3]) / seconds,
            "samples": int(local[3]),
            "padding_share": 1 - float(local[2] / local[4]),  # padded tokens / all tokens of the step's batches
            "resumed_from": resumed_from,
            "time": round(time.time(), 3),  # when the step ended (which invocation trained it)
            **({"worker_nodes": nodes} if step == resumed_from + 1 else {}),  # where this (re)start runs
        }
        due = step >= stage_cfg.steps or step % stage_cfg.checkpoint_every == 0  # a checkpoint, so val loss too
        improved = False
        if has_val and (due or (stage_cfg.eval_every and step % stage_cfg.eval_every == 0)):
            row["val_loss"], kept = val_loss(
                engine,
                val_shard,
                make=make,
                batch_size=stage_cfg.micro_batch_size,
                dtype=dtype,
                keep=stage_cfg.log_generations if rank == 0 else 0,
            )
            improved = stop.update(step=step, val_loss=row["val_loss"])  # the same on every rank: one val loss
            if kept is not None:
                row["generations"] = sample_generations(engine.module, kept, make=make, gen=cfg.generation, dtype=dtype)
        if step >= stage_cfg.steps:
            stop.stop_reason = limit
        elif stop.out_of_patience:
            stop.stop_reason = "patience"
        if stop.stop_reason is not None:
            row.update(stop_reason=stop.stop_reason, best_step=stop.best_step, best_val_loss=stop.best_val_loss)
        checkpoint_now = due or stop.stop_reason is not None or improved
        if writer is not None:
            writer.log(row)
        metrics = {**{k: v for k, v in row.items() if k != "generations"}, "worker_nodes": nodes}
        if "val_loss" in row:  # what Ray Train keeps checkpoints by: the val-loss lows, the earliest of equal ones
            metrics[LOW] = row["val_loss"] if improved else float("inf")
        if checkpoint_now:
            with tempfile.TemporaryDirectory(prefix="m2t-ckpt-") as tmp:
                save_state(
                    engine,
                    cfg=cfg,
                    out=Path(tmp),
                    rank=rank,
                    info={
                        "stage": stage,
                        "step": step,
                        "epoch": epoch,
                        "val_loss": row.get("val_loss"),
                        "early_stop": stop.state(),
                    },
                    tracking={"backend": "mlflow", **tracking, "step": step} if tracking else None,
                    neighbours=config.get("neighbours"),
                )
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(metrics)
        if after_report is not None:
            after_report(step=step, rank=rank)
    batches.close()
    if writer is not None:
        writer.close()
        writer.plot()
