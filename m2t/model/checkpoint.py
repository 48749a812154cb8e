"""The checkpoint layout, defined here once, and self-describing checkpoints loaded strictly (never pickle,
never the frozen base weights).

A model checkpoint (what ``save_checkpoint`` writes; published as ``outputs/<stage>/checkpoint``)::

    <dir>/m2t_model.json              validated config + builder arguments (format, stage, dims, encoder_id, ...),
                                      and the MLflow run that trained it (``tracking``), when one did
    <dir>/adapter.safetensors         GCA + resampler + projector + media gate
    <dir>/lora/                       PEFT format (adapter_config.json + adapter_model.safetensors), stage 2 only
    <dir>/tokenizer/                  tokenizer files (with <delta_P>, pad and the chat template)
    <dir>/new_token_rows.safetensors  embedding / LM-head rows added by resizing, when there are any
    <dir>/neighbours.parquet          the training split's neighbour index, when the prompt states the neighbour
                                      (model.prompt_fields; m2t.data.neighbours)

A Ray Train checkpoint of a training run (in ``train.storage_path``; see :mod:`m2t.train.state`) wraps one::

    <ckpt>/model/                     the model checkpoint above
    <ckpt>/deepspeed/                 DeepSpeed's resume state (trainable weights, ZeRO-2 optimizer partitions)
    <ckpt>/rng/rank_<r>.json          RNG state of each rank
    <ckpt>/train_state.json           stage, step, epoch, val_loss (human-readable)
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import peft
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from m2t import __version__
from m2t.atomic import restore_dir
from m2t.config import Config, LoraConfig, explain
from m2t.data.neighbours import NEIGHBOURS
from m2t.errors import InputError, MismatchError
from m2t.model.builder import assemble
from m2t.model.dropout import fast_lora_dropout
from m2t.model.freeze import Stage, set_trainable
from m2t.model.llm import build_llm, enable_gradient_checkpointing
from m2t.model.lora import apply_lora, merge_lora
from m2t.model.multimodal import M2TModel

log = logging.getLogger(__name__)
FORMAT, VERSION = "m2t-checkpoint", 1
META, ADAPTER, LORA, TOKENIZER = "m2t_model.json", "adapter.safetensors", "lora", "tokenizer"
NEW_ROWS = "new_token_rows.safetensors"
PUBLISHED = "checkpoint"  # outputs/<stage>/checkpoint
RUN_MODEL, RUN_DEEPSPEED, RUN_RNG, RUN_STATE = "model", "deepspeed", "rng", "train_state.json"


def stage_checkpoint(cfg: Config, stage: str) -> Path:
    """Where ``stage`` of ``cfg`` publishes its final checkpoint: ``<output.root>/<stage>/checkpoint``."""
    return cfg.stage_dir(stage) / PUBLISHED


def require_checkpoint(
    path: str | Path, *, what: str = "checkpoint", fix: str = "save one with m2t.model.save_checkpoint"
) -> Path:
    """``path`` if it is an m2t checkpoint, else :class:`InputError` naming ``what`` it should be and ``fix``.

    A publish killed between its two renames is undone first (:func:`m2t.atomic.restore_dir`), so every
    reader of a checkpoint sees the old or the new one, never none.
    """
    path = restore_dir(path)
    if not (path / META).is_file():
        state = "does not exist" if not path.exists() else f"is not an m2t checkpoint (no {META})"
        raise InputError(f"{what} {path} {state}; {fix}")
    return path


def adapter_digest(ckpt_dir: str | Path) -> str:
    """SHA-256 hex of a checkpoint's adapter weights (what a stage-2 run starts from)."""
    return hashlib.sha256((Path(ckpt_dir) / ADAPTER).read_bytes()).hexdigest()


def weights_stamp(ckpt_dir: str | Path) -> str:
    """``<size>-<mtime ns>`` of the adapter weights: changes whenever the checkpoint is republished."""
    stat = (Path(ckpt_dir) / ADAPTER).stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def read_train_state(ray_ckpt: str | Path) -> dict:
    """The ``train_state.json`` (stage, step, epoch, val_loss) of a Ray Train checkpoint directory."""
    return json.loads((Path(ray_ckpt) / RUN_STATE).read_text())


def _rows(model: M2TModel) -> dict[str, torch.Tensor]:
    ids = torch.tensor(model.new_token_ids, dtype=torch.long)
    return {
        "input_embeddings": model.llm.get_input_embeddings().weight[ids].detach().cpu().contiguous(),
        "output_embeddings": model.llm.get_output_embeddings().weight[ids].detach().cpu().contiguous(),
    }


def save_checkpoint(
    model: M2TModel,
    cfg: Config,
    out_dir: str | Path,
    *,
    tracking: dict | None = None,
    neighbours: str | Path | None = None,
) -> Path:
    """Write ``model`` (its trainable parts, tokenizer and description) to ``out_dir``; returns the dir.

    ``tracking``: the experiment-tracking run that trained it (backend, uri, experiment_id, run_id, run_name,
    step), kept in the description so that an evaluation of the checkpoint logs to that run. ``neighbours``: the
    neighbour index file of its training split, copied in (needed when its prompt states the neighbour)."""
    if model.lora_merged:
        raise ValueError(
            "this model's LoRA is merged into the base weights, which checkpoints never store; "
            "save the model before merge_lora (load_checkpoint(..., stage='finetune') keeps it unmerged)"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    has_lora = isinstance(model.llm, peft.PeftModel)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.adapter.state_dict().items()}, out / ADAPTER)
    if has_lora:  # adapter weights only: the resized embeddings are saved as rows below, not whole
        model.llm.save_pretrained(out / LORA, save_embedding_layers=False)
    model.tokenizer.save_pretrained(out / TOKENIZER)
    if model.new_token_ids:
        save_file(_rows(model), out / NEW_ROWS)
    if neighbours is not None:
        shutil.copyfile(neighbours, out / NEIGHBOURS)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "m2t_version": __version__,
        "stage": "finetune" if has_lora else "pretrain",
        "builder": {
            "dim_in": model.dim_in,
            "encoder_id": model.encoder_id,
            "dim_llm": model.adapter.dim_llm,
            "num_media_tokens": model.num_media_tokens,
            "delta_token": model.delta_token,
            "delta_token_id": model.delta_token_id,
            "new_token_ids": model.new_token_ids,
            "vocab_rows": model.llm.get_input_embeddings().weight.shape[0],
        },
        "config": cfg.model_dump(mode="json"),
    }
    if tracking is not None:
        meta["tracking"] = tracking
    (out / META).write_text(json.dumps(meta, indent=2))
    return out


def read_meta(ckpt_dir: str | Path) -> dict:
    """The parsed ``m2t_model.json`` of a checkpoint directory (format checked); every checkpoint load starts here."""
    path = require_checkpoint(ckpt_dir) / META
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise MismatchError(f"{path}: format {meta.get('format')!r} v{meta.get('version')} is not {FORMAT} v{VERSION}")
    if isinstance(meta.get("builder"), dict):
        meta["builder"] = {RENAMED.get(k, k): v for k, v in meta["builder"].items()}
    return meta


# builder arguments renamed since checkpoints were first saved: old name -> new name
RENAMED = {"hidden_size_in": "dim_in", "llm_hidden_size": "dim_llm"}
# settings that moved since checkpoints were first saved: (old section, key) -> (new section, key)
MOVED = {("embed", "max_padding"): ("encoder", "max_padding")}


def trained_config(ckpt_dir: str | Path, meta: dict | None = None) -> Config:
    """The config checkpoint ``ckpt_dir`` was trained with (``meta``: its already-read metadata).

    Settings that moved since (:data:`MOVED`) are read at their new place; a config this version
    cannot read is a :class:`m2t.errors.MismatchError` naming the file, not a validation traceback.
    """
    meta = meta if meta is not None else read_meta(ckpt_dir)
    data = {section: dict(values) if isinstance(values, dict) else values for section, values in meta["config"].items()}
    for (old, key), (new, new_key) in MOVED.items():
        if isinstance(data.get(old), dict) and key in data[old]:
            data.setdefault(new, {}).setdefault(new_key, data[old].pop(key))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise MismatchError(
            f"this checkpoint's saved config does not fit m2t {__version__}; "
            + explain(exc, str(Path(ckpt_dir) / META))
        ) from None


def _load_lora(llm, lora_dir: Path, *, trainable: bool) -> peft.PeftModel:
    wrapped = peft.PeftModel.from_pretrained(llm, lora_dir, is_trainable=trainable)
    fast_lora_dropout(wrapped)  # as apply_lora's (a resumed stage 2 trains with it)
    saved = load_file(lora_dir / "adapter_model.safetensors")
    loaded = peft.get_peft_model_state_dict(wrapped, save_embedding_layers=False)
    if set(saved) != set(loaded) or any(not torch.equal(saved[k], loaded[k].cpu().to(saved[k].dtype)) for k in saved):
        missing, extra = sorted(set(loaded) - set(saved)), sorted(set(saved) - set(loaded))
        raise MismatchError(
            f"{lora_dir}: LoRA weights do not match the model (missing {missing[:3]}, unexpected "
            f"{extra[:3]}); the checkpoint was made for another base model or LoRA config"
        )
    return wrapped


def load_checkpoint(
    ckpt_dir: str | Path, *, stage: Stage, encoder_id: str | None = None, lora_cfg: LoraConfig | None = None
) -> tuple[M2TModel, Config]:
    """Rebuild the model from ``ckpt_dir`` alone and load every saved tensor strictly.

    ``stage``: ``pretrain`` (resume stage 1), ``finetune`` (stage 2: loads the LoRA, or adds fresh
    LoRA from ``lora_cfg`` or the saved config to a stage-1 checkpoint) or ``infer`` (frozen, eval
    mode, LoRA merged). ``encoder_id``, when given, must equal the one the checkpoint was trained with.
    """
    ckpt = Path(ckpt_dir)
    meta = read_meta(ckpt)
    cfg, b = trained_config(ckpt, meta), meta["builder"]
    if encoder_id is not None and b["encoder_id"] is not None and encoder_id != b["encoder_id"]:
        raise MismatchError(
            f"{ckpt} was trained on embeddings of {b['encoder_id']!r} but the encoder/store is "
            f"{encoder_id!r}; use encoder settings that give {b['encoder_id']!r} or another checkpoint"
        )
    if stage == "pretrain" and meta["stage"] == "finetune":
        raise MismatchError(f"{ckpt} is a stage-2 (LoRA) checkpoint; load it with stage='finetune' or 'infer'")
    tokenizer = AutoTokenizer.from_pretrained(ckpt / TOKENIZER)
    llm, new_ids = build_llm(cfg.model, tokenizer)
    if cfg.model.gradient_checkpointing and stage != "infer":
        enable_gradient_checkpointing(llm)
    if new_ids != b["new_token_ids"]:
        raise MismatchError(
            f"{ckpt}: resizing {cfg.model.llm} gave new rows {new_ids}, the checkpoint has "
            f"{b['new_token_ids']}; the base model changed since it was saved"
        )
    model = assemble(
        cfg, llm=llm, tokenizer=tokenizer, new_token_ids=new_ids, dim_in=b["dim_in"], encoder_id=b["encoder_id"]
    )
    if new_ids:
        rows, ids = load_file(ckpt / NEW_ROWS), torch.tensor(new_ids)
        with torch.no_grad():
            llm.get_input_embeddings().weight[ids] = rows["input_embeddings"].to(llm.dtype)
            llm.get_output_embeddings().weight[ids] = rows["output_embeddings"].to(llm.dtype)
    try:
        model.adapter.load_state_dict(load_file(ckpt / ADAPTER), strict=True)
    except RuntimeError as exc:
        raise MismatchError(f"{ckpt / ADAPTER} does not fit the adapter described in {META}: {exc}") from None
    if (ckpt / LORA).is_dir():
        model.llm = _load_lora(llm, ckpt / LORA, trainable=stage == "finetune")
    elif stage == "finetune":
        model.llm = apply_lora(llm, lora_cfg or cfg.lora)
        if lora_cfg is not None:
            cfg = cfg.model_copy(update={"lora": lora_cfg})
    set_trainable(model, stage=stage, train_adapters=cfg.lora.train_adapters)
    if stage == "infer":
        merge_lora(model).eval()
    log.info("loaded %s checkpoint %s for %s", meta["stage"], ckpt, stage)
    return model, cfg
