"""The real-weights path on real rows: SmolLM2-135M-Instruct (converted from its GGUF) through both stages on
Ray Train + DeepSpeed ZeRO-2 (2 CPU workers) on a few short MutaDescribe rows, the final checkpoint loaded
strictly, and greedy generation that stops at ChatML's end-of-turn token."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from m2t.config import load_config
from m2t.model import end_of_turn_id, load_checkpoint, read_meta
from m2t.train.batches import BatchMaker
from m2t.train.trainer import run_stage

pytestmark = pytest.mark.slow
MAX_RESIDUES, MAX_DESCRIPTION, ROWS, NEW_TOKENS = 130, 200, 6, 24


def short_rows(mutadescribe_dir: Path, out: Path) -> Path:
    """The first ROWS rows of train_sample + val_sample whose protein and description are short, as one CSV
    in MutaDescribe's own format (rows copied verbatim)."""
    rows, header = [], None
    for name in ("train_sample.csv", "val_sample.csv"):
        with (mutadescribe_dir / name).open(newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames
            rows += [
                r
                for r in reader
                if len(r["protein1"]) <= MAX_RESIDUES
                and len(f"{r['uniprot_description']} {r['GPT_description']}".strip()) <= MAX_DESCRIPTION
            ]
    assert len(rows) >= ROWS, f"only {len(rows)} short rows in {mutadescribe_dir}"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows[:ROWS])
    return out


def test_smollm2_both_stages_checkpoint_and_generation_on_mutadescribe_rows(
    ray_cluster, smollm2_dir, mutadescribe_dir, tmp_path, one_torch_thread
):
    schedule = [
        f"train.{stage}.{key}={value}"
        for stage in ("pretrain", "finetune")
        for key, value in (
            ("steps", 2),
            ("checkpoint_every", 2),
            ("eval_every", 0),
            ("micro_batch_size", 1),
            ("group_by_length", 1),
        )
    ]
    cfg = load_config(
        None,
        [
            f"data.inputs=[{short_rows(mutadescribe_dir, tmp_path / 'rows.csv')}]",
            "data.val_fraction=0",
            f"model.llm={smollm2_dir}",
            "model.num_media_tokens=2",
            "lora.r=4",
            f"output.root={tmp_path / 'out'}",
            f"embed.store={tmp_path / 'embeddings'}",
            f"train.storage_path={tmp_path / 'ray'}",
            *schedule,
        ],
    )
    assert cfg.train.num_workers == 2 and Path(cfg.deepspeed.config).name == "zero2.json"
    for stage in ("pretrain", "finetune"):
        assert run_stage(cfg, stage=stage)["step"] == 2

    ckpt = cfg.stage_dir("finetune") / "checkpoint"
    model, _ = load_checkpoint(ckpt, stage="infer")  # strict: every saved tensor must fit
    tok, meta = model.tokenizer, read_meta(ckpt)
    eot = end_of_turn_id(tok)
    assert (eot, tok.convert_ids_to_tokens(eot)) == (2, "<|im_end|>")
    assert meta["stage"] == "finetune" and meta["builder"]["new_token_ids"] == [49152, 49153]  # <delta_P>, pad
    rows = load_file(ckpt / "new_token_rows.safetensors")["input_embeddings"]
    assert torch.equal(model.llm.get_input_embeddings().weight[49152:], rows)  # tied embeddings: saved rows loaded

    table = pq.read_table(cfg.stage_dir("data") / "train.parquet", columns=["id", "wild_type", "mutant", "description"])
    records = {k: np.array(v[:2], dtype=object) for k, v in table.to_pydict().items()}
    batch = BatchMaker(tokenizer=tok, model_cfg=cfg.model, store=str(cfg.embed.store))(records)
    ids = model.generate_ids(
        wt_emb=batch["wt_emb"],
        wt_mask=batch["wt_mask"],
        mut_emb=batch["mut_emb"],
        mut_mask=batch["mut_mask"],
        max_new_tokens=NEW_TOKENS,
        instructions=[cfg.model.instruction, "Name one amino acid. Answer with one word."],
    )
    stopped = [eot in row for row in ids.tolist()]
    for row in ids.tolist():
        if eot in row:
            assert set(row[row.index(eot) + 1 :]) <= {tok.pad_token_id}
        else:
            assert len(row) == NEW_TOKENS
    assert stopped[1], tok.decode(ids[1])  # the one-word answer ends with <|im_end|> (2 training steps barely move it)
    assert all(text.strip() for text in tok.batch_decode(ids, skip_special_tokens=True))
