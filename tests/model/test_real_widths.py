"""The real architectures at full width, random weights, few layers, through m2t on CPU.

ESM3-open (d 1536), ESM-2 650M (1280) and ESM C 300M / 600M (960 / 1152) with 2 layers each feed the real
adapter (``jobs/configs/llama3_esm3.yaml``); Llama-3.1-8B-Instruct's exact ``LlamaConfig`` with 2 of its 32
layers (1.49 B parameters: the 128,256-row embeddings and LM head are full size) runs one DeepSpeed ZeRO-2 step
of stage 1 and one of stage 2 in bf16 (fp32 on CPUs without bf16 matmuls: below), a strict checkpoint round trip
and a few generated tokens. The sizes that docs/model.md states are checked against the built modules and the
checkpoint's files.

DeepSpeed runs as one gloo worker in this process (world size 1): two Ray workers would each hold the LLM and
the adapter's optimizer states and buckets, each peaking near 10 GiB (below), too much for the 24 GB CI machine
with the rest of the suite.

dtype: bf16, the real setup's, where this CPU multiplies bf16 through oneDNN (AVX512-BF16 or AMX, as on the Xeon
these numbers were measured on). Elsewhere (an AVX2-only AMD EPYC, for one) torch falls back to a reference bf16
kernel, measured at 0.3 GFLOP/s against fp32's 56: stage 1's first step was not done after 20 minutes. There the
test runs in fp32 and checks the checkpoint's files at 4 bytes a parameter (docs/model.md's sizes are bf16's, 2).

Memory bound: the Llama test's peak RSS stays under ``PEAK_GIB`` above the RSS at its start, and it returns all
but ``LEFT_GIB`` = 1 GiB of that at its end, since the next tests run in the same process. In bf16, 12 GiB
(measured 11.3 GiB, in stage 1's first step: the bf16 LLM, 3.0 GB, and for the 221 M adapter parameters
DeepSpeed's fp32 master copy and AdamW states, 2.7 GB, its fp32 gradient partition, 0.9 GB, and the gradient
buckets; 0.2 GiB left at the end); about 3 minutes on 2 CPU cores (188 s at a load average of 13). In fp32,
16 GiB (measured 14.5 GiB: the LLM alone is 6.0 GB; 0.1 GiB left at the end), 174 s on an idle 2-core EPYC.
"""

from __future__ import annotations

import ast
import ctypes
import gc
import inspect
import json
import re
import struct
import threading
import time
from pathlib import Path

import peft
import psutil
import pytest
import torch
from transformers import EsmConfig, EsmForMaskedLM, EsmModel, LlamaForCausalLM

from m2t.bench.gpu.inputs import profile_records
from m2t.bench.gpu.models import ESM3_OPEN, LLAMA31_8B, esm3_open_twin, llama31_8b_config, write_random_llm
from m2t.bench.train import single_process_group
from m2t.config import REPO_ROOT, Config, EncoderConfig, TinyEncoderConfig, load_config
from m2t.encoders import build_encoder
from m2t.encoders.esm2 import Esm2Encoder, tiny_tokenizer
from m2t.encoders.esm3 import tiny_model as esm3_model
from m2t.encoders.esmc import tiny_model as esmc_model
from m2t.model import build_adapter, collate, load_checkpoint, make_example, merge_lora, save_checkpoint
from m2t.model.batching import pad_embeddings as pad
from m2t.model.batching import to_device
from m2t.train.build import deepspeed_engine, stage_model

pytestmark = pytest.mark.slow
# bf16 only where oneDNN multiplies it (see the docstring); ``_is_mkldnn_bf16_supported`` is what torch itself asks
DTYPE = torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32
PEAK_GIB = 12.0 if DTYPE == torch.bfloat16 else 16.0
LEFT_GIB = 1.0
DOC = REPO_ROOT / "docs" / "model.md"
REAL = REPO_ROOT / "jobs" / "configs" / "llama3_esm3.yaml"
# facebook/esm2_t33_650M_UR50D's config.json (transformers ships no copy); ESM C's are esm.pretrained's
ESM2_650M = {
    "vocab_size": 33,
    "hidden_size": 1280,
    "num_hidden_layers": 33,
    "num_attention_heads": 20,
    "intermediate_size": 5120,
    "pad_token_id": 1,
    "mask_token_id": 32,
    "position_embedding_type": "rotary",
    "token_dropout": True,
    "max_position_embeddings": 1026,
    "layer_norm_eps": 1e-5,
    "emb_layer_norm_before": False,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}
ESMC = {
    "ESM C 300M": {"d_model": 960, "n_heads": 15, "n_layers": 30},
    "ESM C 600M": {"d_model": 1152, "n_heads": 18, "n_layers": 36},
}
WIDTHS = {"ESM3-open": 1536, "ESM-2 650M": 1280, "ESM C 600M": 1152, "ESM C 300M": 960}


def doc_table(header: str) -> dict[str, list[str]]:
    """Rows (first cell -> the other cells) of the docs/model.md table whose header row starts with ``header``."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def millions(cell: str) -> float:
    return float(cell.removesuffix(" M").replace(",", ""))


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def safetensors_data(path: Path) -> tuple[int, int]:
    """``(parameters, data bytes)`` of a safetensors file, read from its header; checks the bytes add up."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    entries = {k: v for k, v in json.loads(raw[8 : 8 + n]).items() if k != "__metadata__"}
    count = sum(torch.Size(v["shape"]).numel() for v in entries.values())
    data = sum(v["data_offsets"][1] - v["data_offsets"][0] for v in entries.values())
    assert data == len(raw) - 8 - n
    return count, data


def sdk_arguments(function, cls: str) -> dict:
    """The constant keyword arguments of the ``cls(...)`` call in ``function``'s source (the esm SDK's constructors)."""
    tree = ast.parse(inspect.getsource(function))
    call = next(c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", None) == cls)
    return {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}


def real_cfg(*overrides: str) -> Config:
    return load_config(REAL, list(overrides))


# ---- the numbers in docs/model.md ------------------------------------------------------------
def test_the_real_dims_are_the_sdk_and_hub_ones():
    from esm import pretrained

    assert sdk_arguments(pretrained.ESM3_sm_open_v0, "ESM3") == ESM3_OPEN
    assert sdk_arguments(pretrained.ESMC_300M_202412, "ESMC") == ESMC["ESM C 300M"]
    assert sdk_arguments(pretrained.ESMC_600M_202412, "ESMC") == ESMC["ESM C 600M"]
    config = llama31_8b_config()
    assert (
        config.hidden_size,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.intermediate_size,
        config.vocab_size,
        config.rms_norm_eps,
        config.tie_word_embeddings,
    ) == (4096, 32, 8, 14336, 128256, 1e-5, False)
    assert config.rope_scaling == LLAMA31_8B["rope_scaling"] and config.rope_theta == 500000.0


def test_documented_sizes_are_the_built_modules():
    cfg = real_cfg()
    adapters = doc_table("encoder")
    assert list(adapters) == list(WIDTHS)
    for name, width in WIDTHS.items():
        row = adapters[name]
        assert int(row[0]) == width
        with torch.device("meta"):
            adapter = build_adapter(cfg.model, dim_in=width, dim_llm=4096)
        built = [params(adapter.gca), params(adapter.resampler), params(adapter.projector), params(adapter)]
        assert [round(n / 1e6, 1) for n in built] == [millions(c) for c in row[1:5]], name
        assert f"{params(adapter) * 2 / 1e6:.1f} MB" == row[5], name
    parts = doc_table("part")
    with torch.device("meta"):
        llama = LlamaForCausalLM(llama31_8b_config())
        encoders = {
            "ESM3-open": esm3_model(**ESM3_OPEN, seed=0),
            "ESM-2 650M": EsmModel(EsmConfig(**ESM2_650M), add_pooling_layer=False),
            **{k: esmc_model(**v, seed=0) for k, v in ESMC.items()},
        }
    for name, module in {"Llama-3.1-8B-Instruct": llama, **encoders}.items():
        (row,) = [cells for key, cells in parts.items() if key.startswith(name)]
        assert f"{params(module) / 1e6:,.1f} M" == row[0], name
        assert f"{params(module) * 2 / 1e9:.1f} GB" == row[1], name
    # the diagram's numbers are the table's
    diagram = re.findall(r"([\d.]+) M(?: params)?\n", DOC.read_text())[:3]
    assert [float(x) for x in diagram] == [millions(c) for c in adapters["ESM3-open"][1:4]]


# ---- encoders at the real widths into the real adapter ---------------------------------------
def _encoder(name: str):
    runtime = {"device": "cpu", "dtype": "float32"}
    if name == "ESM3-open":
        return build_encoder(esm3_open_twin(n_layers=2, **runtime))
    if name == "ESM-2 650M":
        model = EsmForMaskedLM(EsmConfig(**{**ESM2_650M, "num_hidden_layers": 2}))
        return Esm2Encoder(
            model=model,
            tokenizer=tiny_tokenizer(),
            encoder_id="esm2:650M-width-l2",
            token_budget=8192,
            device=torch.device("cpu"),
            dtype=torch.float32,
        )
    tiny = TinyEncoderConfig(**{**ESMC[name], "n_layers": 2})
    return build_encoder(EncoderConfig(backend="esmc", name="tiny", tiny=tiny, **runtime))


@pytest.mark.parametrize("name", list(WIDTHS))
def test_encoder_at_real_width_feeds_the_real_adapter(name):
    encoder = _encoder(name)
    assert encoder.hidden_size == WIDTHS[name]
    records = profile_records(wild_types=2, length_scale=0.5)
    sequences = [s for r in records for s in (r.wild_type, r.mutant)]
    batched = encoder.embed(sequences)
    for s, emb in zip(sequences, batched, strict=True):
        assert emb.shape == (len(s), WIDTHS[name])
        torch.testing.assert_close(emb, encoder.embed([s])[0], rtol=1e-4, atol=1e-4)
    torch.manual_seed(0)
    adapter = build_adapter(real_cfg().model, dim_in=encoder.hidden_size, dim_llm=4096)
    with torch.no_grad():
        adapter.media_gate.gate.fill_(0.1)  # open, so the output depends on the proteins
    wt, wt_mask = pad(batched[0::2])
    mut, mut_mask = pad(batched[1::2])
    media = adapter(wt_emb=wt, wt_mask=wt_mask, mut_emb=mut, mut_mask=mut_mask)
    assert media.shape == (len(records), 32, 4096) and torch.isfinite(media).all()
    media.square().mean().backward()
    grads = [p.grad for p in adapter.parameters() if p.grad is not None]
    assert len(grads) == len(list(adapter.parameters())) and all(torch.isfinite(g).all() for g in grads)


# ---- Llama-3.1-8B's config with 2 layers: both stages, checkpoint, generation -----------------
def release() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc keeps them otherwise)."""
    gc.collect()
    ctypes.CDLL(None).malloc_trim(0)


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread: ``start``, ``peak`` and ``end`` in GiB."""

    def __enter__(self) -> PeakRss:
        release()  # start from what is really in use (earlier tests may have left freed pages with the process)
        self._proc, self._stop = psutil.Process(), threading.Event()
        self.start = self.peak = self._proc.memory_info().rss / 2**30
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss / 2**30)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        release()
        self.end = self._proc.memory_info().rss / 2**30


def _step(engine, batch, dtype) -> float:
    loss = engine(**to_device(batch, device=engine.device, dtype=dtype)).loss
    engine.backward(loss)
    engine.step()
    return float(loss.detach())


@pytest.mark.timeout(900)
def test_llama31_8b_width_trains_both_stages_checkpoints_and_generates(tmp_path):
    started = time.perf_counter()
    with PeakRss() as rss:
        _both_stages(tmp_path)
    print(
        f"\nreal-width Llama test ({DTYPE}): {time.perf_counter() - started:.0f} s, RSS start {rss.start:.2f} GiB, peak "
        f"+{rss.peak - rss.start:.2f} GiB, end +{rss.end - rss.start:.2f} GiB"
    )
    assert rss.peak - rss.start < PEAK_GIB
    assert rss.end - rss.start < LEFT_GIB


def _both_stages(tmp: Path) -> None:
    llm_dir = write_random_llm(tmp / "llama", config=llama31_8b_config(num_layers=2), dtype=DTYPE)
    cfg = real_cfg(
        f"model.llm={llm_dir}",
        f"model.dtype={str(DTYPE).removeprefix('torch.')}",
        f"output.root={tmp}",
        "train.pretrain.micro_batch_size=2",
        "train.pretrain.grad_accum=1",
        "train.finetune.micro_batch_size=2",
        "train.finetune.grad_accum=1",
    )
    cfg = cfg.model_copy(update={"encoder": esm3_open_twin(n_layers=2, device="cpu", dtype="float32")})
    encoder = build_encoder(cfg.encoder)
    records = profile_records(wild_types=2, length_scale=0.5)
    embs = encoder.embed([s for r in records[:2] for s in (r.wild_type, r.mutant)])
    common = {"resume": None, "encoder_id": encoder.encoder_id, "dim_in": encoder.hidden_size}

    def batch(model):
        return collate(
            [
                {
                    **make_example(model.tokenizer, cfg.model, r.description),
                    "wt_emb": embs[2 * i],
                    "mut_emb": embs[2 * i + 1],
                }
                for i, r in enumerate(records[:2])
            ],
            pad_id=model.pad_id,
        )

    with single_process_group():
        model = stage_model(cfg, stage="pretrain", init=None, **common)
        assert model.new_token_ids == [128256] and model.tokenizer.pad_token == "<|finetune_right_pad_id|>"
        rows = model.llm.get_input_embeddings().weight  # the new row is the old rows' mean (random ones are ~0.02)
        torch.testing.assert_close(
            rows[128256].float(), rows[:128256].mean(0, dtype=torch.float32), rtol=1e-2, atol=1e-6
        )
        frozen = model.llm.model.layers[1].mlp.down_proj.weight.clone()
        engine, scheduler, dtype = deepspeed_engine(model, cfg, stage_cfg=cfg.train.pretrain, world_size=1)
        assert dtype == DTYPE
        assert torch.isfinite(torch.tensor(_step(engine, batch(model), dtype)))
        assert engine.module.adapter.media_gate.gate.item() != 0  # the adapter trained ...
        assert torch.equal(engine.module.llm.model.layers[1].mlp.down_proj.weight, frozen)  # ... the LLM did not
        stage1 = save_checkpoint(engine.module, cfg, tmp / "stage1")
        engine.destroy()  # DeepSpeed's hooks keep engine and model alive until destroyed
        del engine, scheduler, model, rows, frozen  # the scheduler holds the optimizer and its states
        release()

        model = stage_model(cfg, stage="finetune", init=stage1, **common)
        engine, scheduler, dtype = deepspeed_engine(model, cfg, stage_cfg=cfg.train.finetune, world_size=1)
        _step(engine, batch(model), dtype)
        lora = peft.get_peft_model_state_dict(engine.module.llm, save_embedding_layers=False)
        assert any(v.abs().sum() > 0 for k, v in lora.items() if "lora_B" in k)  # B starts at 0: it trained
        saved = {
            "adapter": {k: v.detach().clone() for k, v in engine.module.adapter.state_dict().items()},
            "lora": {k: v.detach().clone() for k, v in lora.items()},
            "rows": engine.module.llm.get_input_embeddings().weight[128256:].detach().clone(),
        }
        stage2 = save_checkpoint(engine.module, cfg, tmp / "stage2")
        engine.destroy()
        del engine, scheduler, model, lora
        release()

    _check_files(stage2)
    model, _ = load_checkpoint(stage2, stage="finetune", encoder_id=encoder.encoder_id)  # strict: every tensor
    for k, v in saved["adapter"].items():
        assert torch.equal(model.adapter.state_dict()[k].to(v.dtype), v), k
    loaded = peft.get_peft_model_state_dict(model.llm, save_embedding_layers=False)
    assert set(loaded) == set(saved["lora"]) and all(
        torch.equal(loaded[k].to(v.dtype), v) for k, v in saved["lora"].items()
    )
    assert torch.equal(model.llm.get_input_embeddings().weight[128256:], saved["rows"])
    merge_lora(model).eval()
    wt, wt_mask = pad(embs[0::2])
    mut, mut_mask = pad(embs[1::2])
    texts = model.generate(wt_emb=wt, wt_mask=wt_mask, mut_emb=mut, mut_mask=mut_mask, max_new_tokens=4)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    del model, saved, loaded
    release()


def _check_files(ckpt: Path) -> None:
    """The checkpoint's tensors are the sizes docs/model.md states, in ``DTYPE``'s bytes a parameter (its MB are
    bf16's: 2 bytes a parameter)."""
    size = DTYPE.itemsize
    parts = doc_table("part")
    adapter_params, adapter_bytes = safetensors_data(ckpt / "adapter.safetensors")
    row = doc_table("encoder")["ESM3-open"]
    assert round(adapter_params / 1e6, 1) == millions(row[4]) and adapter_bytes == size * adapter_params
    assert f"{2 * adapter_params / 1e6:.1f} MB" == row[5]
    lora_params, lora_bytes = safetensors_data(ckpt / "lora" / "adapter_model.safetensors")
    (lora_row,) = [cells for key, cells in parts.items() if "lora" in key]
    per_layer = sum(
        16 * (i + o)
        for i, o in [
            (4096, 4096),
            (4096, 1024),
            (4096, 1024),
            (4096, 4096),
            (4096, 14336),
            (4096, 14336),
            (14336, 4096),
        ]
    )
    assert lora_params == 2 * per_layer and lora_bytes == size * lora_params  # 2 of the 32 layers
    assert f"{16 * lora_params / 1e6:.1f} M" == lora_row[0] and f"{16 * 2 * lora_params / 1e6:.1f} MB" == lora_row[1]
    rows_params, rows_bytes = safetensors_data(ckpt / "new_token_rows.safetensors")
    (rows_row,) = [cells for key, cells in parts.items() if "new_token_rows" in key]
    assert rows_params == 2 * 4096 and f"{rows_params / 1e6:.3f} M" == rows_row[0]
    assert rows_bytes == size * rows_params and f"{2 * rows_params / 1e3:.1f} KB" == rows_row[1]
