"""The real-size benchmark on one GPU: full ESM3-open (48 layers, twin) and Llama-3.1-8B-Instruct (32 layers,
16 GB) with random weights in bf16, in one process, without Ray or DeepSpeed (the GPU machine has neither).

    python jobs/benchmark.py all --scale real --out real.json     # embed, train, serve (= describe); < 8 min
    python jobs/benchmark.py all --scale real --dry-run            # the same code at toy size on CPU

Order: the machine (GPU, CUDA, bf16 matmul peak = the MFU denominator); the random Llama written to a
temporary model directory (so m2t loads it as it loads a downloaded one); ``embed``
(:mod:`m2t.bench.gpu.embed`); ``train`` (:mod:`m2t.bench.gpu.train`, the model from ``build_model``);
``serve`` (:mod:`m2t.bench.gpu.generate`, from a checkpoint of the trained model). The JSON is rewritten
after each benchmark, so a run stopped early still leaves its results; a benchmark that would start after
``scale.budget_s`` is skipped and named in ``machine.skipped``.
"""

from __future__ import annotations

import gc
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from m2t.bench.gpu.models import esm3_open_twin, llama31_8b_config, write_random_llm
from m2t.bench.gpu.scale import RealScale
from m2t.bench.machine import machine_info, torch_threads
from m2t.bench.report import write_json
from m2t.config import Config
from m2t.encoders import tiny_encoder_id
from m2t.errors import InputError

log = logging.getLogger(__name__)
NAMES = ("embed", "train", "serve")  # as jobs/benchmark.py names them; serve = the describe path, without Ray


def check_device(scale: RealScale) -> None:
    """Refuse at once, in one line, when the scale's device is a GPU and none is visible."""
    if scale.device == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "--scale real needs a CUDA GPU and none is visible here (torch.cuda.is_available() is "
            "False); add --dry-run to run the same code at toy size on CPU"
        )


def real_config(cfg: Config, scale: RealScale, llm_dir: Path, root: Path) -> Config:
    """``cfg`` (the real setup's config) on the random models: the written Llama, ESM3-open's twin."""
    encoder = esm3_open_twin(
        n_layers=scale.esm3_layers,
        dims=scale.esm3_dims,
        device=scale.device,
        dtype=scale.encoder_dtype,
        token_budget=cfg.encoder.token_budget,
        max_padding=cfg.encoder.max_padding,
    )
    data = cfg.model_dump()
    data["encoder"] = encoder.model_dump()
    data["model"].update(llm=str(llm_dir), dtype=scale.model_dtype)
    data["generation"].update(batch_size=max(scale.batch_sizes), max_new_tokens=scale.max_new_tokens)
    data["output"]["root"] = str(root)
    return Config.model_validate(data)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_real(
    cfg: Config, names: Sequence[str], *, scale: RealScale, out: Path, workdir: Path | None = None
) -> list[dict]:
    """Run ``names`` (of :data:`NAMES`, or ``all``) at ``scale``; writes ``out`` after each and returns the results."""
    check_device(scale)
    with torch_threads(scale.torch_threads or torch.get_num_threads()):
        return _run(cfg, list(NAMES) if "all" in names else list(names), scale=scale, out=out, workdir=workdir)


def _run(cfg: Config, names: list[str], *, scale: RealScale, out: Path, workdir: Path | None) -> list[dict]:
    started, device = time.monotonic(), scale.torch_device
    dtype = getattr(torch, scale.model_dtype)
    machine = {
        **machine_info(dtype=dtype, device=device, matmul_size=scale.matmul_size),
        "scale": scale.name,
        "phases_s": {},
        "skipped": [],
    }
    results: list[dict] = []

    def phase(name: str, begun: float) -> None:
        machine["phases_s"][name] = round(time.monotonic() - begun, 1)
        log.info(
            "real benchmark: %s done in %.1f s (%.0f s in all)",
            name,
            time.monotonic() - begun,
            time.monotonic() - started,
        )
        write_json(results, out)

    def in_budget(name: str) -> bool:
        if time.monotonic() - started < scale.budget_s:
            return True
        machine["skipped"].append(name)
        log.warning("real benchmark: %s skipped, past the %.0f s budget", name, scale.budget_s)
        return False

    tmp = Path(tempfile.mkdtemp(prefix="m2t-real-", dir=workdir))
    try:
        begun = time.monotonic()
        llm_dir = write_random_llm(
            tmp / "llm",
            config=llama31_8b_config(num_layers=scale.llm_layers, **scale.llm_dims),
            dtype=dtype,
            device=device,
        )
        cfg = real_config(cfg, scale, llm_dir, tmp / "outputs")
        machine["models"] = {
            "llm": f"Llama-3.1-8B-Instruct's config with {scale.llm_layers} layers"
            f"{' (toy dims)' if scale.llm_dims else ''}, random weights, {scale.model_dtype}",
            "encoder": f"{tiny_encoder_id(cfg.encoder)}, {scale.encoder_dtype}",
        }
        phase("write_random_llm", begun)
        _benchmarks(cfg, names, results, scale=scale, machine=machine, tmp=tmp, phase=phase, in_budget=in_budget)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine["phases_s"]["total"] = round(time.monotonic() - started, 1)
    write_json(results, out)
    return results


def _benchmarks(
    cfg: Config, names: list[str], results: list[dict], *, scale: RealScale, machine: dict, tmp: Path, phase, in_budget
) -> None:
    """Run the chosen benchmarks in order, appending to ``results`` (``phase`` writes them after each)."""
    from m2t.bench.gpu.embed import encoder_inputs, run_real_embed
    from m2t.bench.gpu.generate import run_real_generate
    from m2t.bench.gpu.inputs import profile_records
    from m2t.bench.gpu.train import run_real_train
    from m2t.encoders import build_encoder
    from m2t.model import build_model, save_checkpoint

    device = scale.torch_device
    records = profile_records(wild_types=scale.wild_types, length_scale=scale.length_scale, max_words=scale.max_words)
    inputs = None
    if {"embed", "train"} & set(names) and in_budget("embed"):
        begun = time.monotonic()
        encoder = build_encoder(cfg.encoder)
        if "embed" in names:
            results.append(run_real_embed(cfg, encoder, records, machine=machine))
        if "train" in names:
            inputs = encoder_inputs(encoder, records, store_dtype=cfg.embed.dtype)
        del encoder
        _free(device)
        phase("embed", begun)
    common = {"dim_in": cfg.encoder.tiny.d_model, "encoder_id": tiny_encoder_id(cfg.encoder)}
    model = None
    if "train" in names and inputs is not None and in_budget("train"):
        begun = time.monotonic()
        model = build_model(cfg, stage="pretrain", **common).to(device=device, dtype=getattr(torch, scale.model_dtype))
        machine["phases_s"]["build_model"] = round(time.monotonic() - begun, 1)
        trained, model = run_real_train(cfg, model, records, inputs, scale=scale, machine=machine)
        results += trained
        phase("train", begun)
    if "serve" in names and in_budget("serve"):
        begun = time.monotonic()
        if model is None:
            model = build_model(cfg, stage="finetune", **common)
        checkpoint = save_checkpoint(model, cfg, tmp / "checkpoint")
        del model
        _free(device)
        results += run_real_generate(cfg, checkpoint, records, scale=scale, machine=machine)
        phase("serve", begun)
