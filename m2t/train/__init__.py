"""Two-stage distributed training on Ray Train + DeepSpeed ZeRO-2 (see docs/train.md).

    from m2t.train import run_stage
    summary = run_stage(cfg, stage="pretrain")                 # what jobs/pretrain.py runs
    summary = run_stage(cfg, stage="finetune", init=None)      # from outputs/pretrain/checkpoint

``trainer`` builds the ``TorchTrainer`` and publishes the final checkpoint; ``loop`` is the
``train_loop_per_worker``; ``build`` makes a worker's model and DeepSpeed engine; ``batches`` joins
records with store embeddings and pads them; ``state`` is the checkpoint content; ``metrics`` the
rank-0 log; ``handoff`` the stage-1 -> stage-2 checks; ``inputs`` makes missing splits / embeddings.
"""

from m2t.train.batches import BatchMaker
from m2t.train.deepspeed_config import fill_deepspeed_config
from m2t.train.handoff import check_init
from m2t.train.inputs import prepare_inputs
from m2t.train.loop import train_loop_per_worker
from m2t.train.schedule import lr_factor, warmup_cosine
from m2t.train.trainer import run_stage

__all__ = [
    "BatchMaker",
    "check_init",
    "fill_deepspeed_config",
    "lr_factor",
    "prepare_inputs",
    "run_stage",
    "train_loop_per_worker",
    "warmup_cosine",
]
