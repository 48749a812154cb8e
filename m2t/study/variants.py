"""The models the study compares, each trained or built through the same code users run.

    m2t          both stages (run_stage pretrain, then finetune), prompt with the configured facts
    text_only    the same LLM + LoRA trained the same way (stage 2's steps and data) with model.use_protein=false:
                 no <delta_P>, no protein vectors; it starts from a checkpoint of the untrained model
    zero_shot    the instruct LLM with the same text-only prompt and no training (fresh LoRA is a no-op)

plus, at test time, the m2t checkpoint with its protein vectors zeroed (:func:`protein_zeroed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from m2t.config import Config
from m2t.data.records import Record, write_records
from m2t.embed.identity import encoder_identity
from m2t.infer.describer import Describer
from m2t.model import build_model, save_checkpoint
from m2t.model.checkpoint import PUBLISHED, stage_checkpoint
from m2t.train.inputs import neighbour_index
from m2t.train.trainer import run_stage


def variant_config(cfg: Config, root: Path, *, use_protein: bool = True) -> Config:
    """``cfg`` writing under ``root`` (its own data copy, outputs and Ray runs), with or without the protein path."""
    model = cfg.model.model_copy(update={"use_protein": use_protein})
    output = cfg.output.model_copy(update={"root": root})
    train = cfg.train.model_copy(update={"storage_path": str(root / "ray_results")})
    return cfg.model_copy(update={"model": model, "output": output, "train": train})


def write_splits(cfg: Config, *, train: list[Record], val: list[Record]) -> None:
    """The study's splits where the training jobs read them (``<output.root>/data/{train,val}.parquet``)."""
    cfg.stage_dir("data").mkdir(parents=True, exist_ok=True)
    write_records(cfg.stage_dir("data") / "train.parquet", train)
    write_records(cfg.stage_dir("data") / "val.parquet", val)


def untrained_checkpoint(cfg: Config, out: Path, *, stage: str) -> Path:
    """A checkpoint of the model ``cfg`` builds, untrained (a fresh adapter; with ``finetune``, fresh LoRA too),
    with the train split's neighbour index when its prompt states the neighbour."""
    identity = encoder_identity(cfg.encoder)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, stage=stage, dim_in=identity.hidden_size, encoder_id=identity.encoder_id)
    train = cfg.stage_dir("data") / "train.parquet"
    return save_checkpoint(
        model, cfg, out, neighbours=neighbour_index(train) if "neighbour" in cfg.model.prompt_fields else None
    )


def train_m2t(cfg: Config) -> tuple[Path, list[dict]]:
    """Both stages; returns the stage-2 checkpoint and the two stages' summaries."""
    summaries = [run_stage(cfg, stage="pretrain"), run_stage(cfg, stage="finetune")]
    return stage_checkpoint(cfg, "finetune"), summaries


def train_text_only(cfg: Config) -> tuple[Path, list[dict]]:
    """Stage 2 only, text-only, from the untrained model; returns its checkpoint and summary."""
    init = untrained_checkpoint(cfg, cfg.stage_dir("untrained") / PUBLISHED, stage="pretrain")
    return stage_checkpoint(cfg, "finetune"), [run_stage(cfg, stage="finetune", init=init)]


def zero_shot(cfg: Config) -> Path:
    """The untrained text-only model as a stage-2 checkpoint: the instruct LLM itself."""
    return untrained_checkpoint(cfg, cfg.stage_dir("zero_shot") / PUBLISHED, stage="finetune")


@contextmanager
def protein_zeroed(describer: Describer) -> Iterator[Describer]:
    """The describer with every protein vector zeroed (the adapter's output gate shut), restored afterwards."""
    gate = describer.model.adapter.media_gate.gate
    saved = gate.detach().clone()
    with torch.no_grad():
        gate.zero_()
    try:
        yield describer
    finally:
        with torch.no_grad():
            gate.copy_(saved)
