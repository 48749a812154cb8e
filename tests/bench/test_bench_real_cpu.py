"""The real-weights CPU benchmarks at toy size, and the check that makes their ratios fair: on the same rows, the plain
transformers + PEFT script computes the same tokens and loss as m2t's text-only training, and writes the same greedy
text as the Describer. SmolLM2-135M-Instruct and the MutaDescribe rows in ../shared; skipped without them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench_checks import check_result

from m2t.bench.cpu_generate import run_generate_real_cpu
from m2t.bench.cpu_train import run_train_real_cpu
from m2t.bench.plain import example, generate, load, prompt
from m2t.bench.scales import SCALES
from m2t.bench.smollm2 import study_config, study_rows
from m2t.infer.describer import Describer, query_of
from m2t.model import build_model
from m2t.model.batching import pad_tokens
from m2t.study.variants import untrained_checkpoint
from m2t.train.batches import BatchMaker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cfg(smollm2_dir, mutadescribe_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("real_cpu")
    return study_config(
        [
            f"model.llm={smollm2_dir}",
            f"output.root={root}",
            "train.pretrain.micro_batch_size=1",
            "train.finetune.micro_batch_size=1",
        ]
    )


@pytest.fixture(scope="module")
def rows(cfg):
    train, test = study_rows(cfg)
    return train, test


def test_plain_loop_trains_on_the_same_tokens_and_loss_as_ours(cfg, rows, one_torch_thread):
    text = cfg.model_copy(update={"model": cfg.model.model_copy(update={"use_protein": False})})
    records = rows[0][:3]
    torch.manual_seed(0)
    ours = build_model(text, stage="finetune", dim_in=cfg.encoder.tiny.d_model, encoder_id="tiny").eval()
    make = BatchMaker(tokenizer=ours.tokenizer, model_cfg=text.model, store=None)
    zeros = np.zeros((3, 4), np.float32)
    batch = make(
        {
            "description": np.array([r.description for r in records]),
            "mutations": [list(r.mutations) for r in records],
            "protein_name": np.array([r.protein_name for r in records]),
            "function": np.array([r.function for r in records]),
            "wt_emb": [zeros] * 3,
            "mut_emb": [zeros] * 3,
        }
    )
    plain, tokenizer = load(str(cfg.model.llm), lora=cfg)
    examples = [example(tokenizer, cfg, r) for r in records]
    plain_batch = pad_tokens(examples, pad_id=tokenizer.pad_token_id)
    for i, e in enumerate(examples):  # the same tokens and labels, row by row
        n = len(e["input_ids"])
        assert batch["input_ids"][i, :n].tolist() == e["input_ids"] and int(batch["attention_mask"][i].sum()) == n
        assert batch["labels"][i, :n].tolist() == e["labels"]
    assert ours.lora_merged is False and sum(p.numel() for p in ours.parameters() if p.requires_grad) == sum(
        p.numel() for p in plain.parameters() if p.requires_grad
    )
    with torch.no_grad():
        mine = ours(**batch).loss.item()
        theirs = plain.eval()(**plain_batch).loss.item()
    # ours has two more vocabulary rows (<delta_P> and its pad token, at the mean embedding): a ~1e-5 relative change
    assert mine == pytest.approx(theirs, rel=1e-4)


def test_plain_generate_writes_the_describers_greedy_text(cfg, rows, tmp_path, one_torch_thread):
    gen = cfg.generation.model_copy(update={"max_new_tokens": 8, "repetition_penalty": 1.0, "batch_size": 3})
    text = cfg.model_copy(update={"model": cfg.model.model_copy(update={"use_protein": False}), "generation": gen})
    records = rows[1][:3]
    describer = Describer(checkpoint=untrained_checkpoint(text, tmp_path / "ckpt", stage="finetune"), cfg=text)
    ours = describer.describe([query_of(r) for r in records])
    plain, tokenizer = load(str(cfg.model.llm))
    prompts = [prompt(tokenizer, text, r) for r in records]
    batched, new_tokens = generate(plain.eval(), tokenizer, prompts, max_new_tokens=8, repetition_penalty=1.0)
    assert batched == ours and all(ours) and 3 <= new_tokens <= 24
    one_at_a_time = [generate(plain, tokenizer, [p], max_new_tokens=8, repetition_penalty=1.0)[0][0] for p in prompts]
    assert one_at_a_time == ours


def test_generate_real_cpu_at_toy_size(cfg, tmp_path, one_torch_thread):
    scale = SCALES["tiny"]
    batched, single = run_generate_real_cpu(cfg, scale, workdir=tmp_path)
    for r in (batched, single):
        check_result(r)
        assert r["ours"]["descriptions"] == scale.real_test_rows
        assert 0 < r["ours"]["new_tokens"] <= scale.real_test_rows * scale.real_max_new_tokens
    assert batched["baseline"]["descriptions"] == scale.real_test_rows
    assert single["baseline"]["descriptions"] == scale.real_single_per_chunk  # one chunk of 4 rows
    assert batched["inputs"]["repetition_penalty"] == cfg.generation.repetition_penalty


def test_train_real_cpu_at_toy_size(ray_cluster, cfg, tmp_path):
    scale = SCALES["tiny"]
    results = run_train_real_cpu(cfg, scale, workdir=tmp_path)
    assert [r["benchmark"] for r in results] == ["train_real_cpu_stage2_study"]  # tiny: one run of the four
    for r in results:
        check_result(r)
        ours, base = r["ours"], r["baseline"]
        workers = cfg.train.num_workers
        assert ours["steps"] == scale.real_train_rows // workers - 2  # steps 2 .. n-1 of one epoch
        assert ours["samples"] == ours["steps"] * workers and len(ours["peak_rss_gib"]) == workers
        assert base["steps"] == 2 * (scale.real_train_rows - 1)  # two blocks of one epoch, less a warm-up step each
        assert 0 <= ours["padding_share"] < 1 and base["padding_share"] == 0  # micro-batches of one row pad nothing
        assert 0 < ours["share_of_peak"] < 1 and 0 < base["share_of_peak"] < 1
        assert base["first_loss"][0] == base["first_loss"][1]  # each block the same seeded work
