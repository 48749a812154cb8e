"""Training parts without Ray: DeepSpeed config filling, LR schedule, metrics log, stage handoff, batches, RNG, publishing."""

import itertools
import json
import math
import random

import numpy as np
import pytest
import torch

from m2t.config import REPO_ROOT, ConfigError, StageConfig, load_config
from m2t.data.neighbours import NeighbourIndex
from m2t.embed.store import EmbeddingStore
from m2t.errors import InputError, MismatchError
from m2t.model import build_model, build_tokenizer, save_checkpoint
from m2t.model.batching import IGNORE
from m2t.plan.epochs import resolve_schedule
from m2t.train.batches import BatchMaker, length_groups, supervised_tokens, token_weighted
from m2t.train.build import stage_model
from m2t.train.deepspeed_config import fill_deepspeed_config
from m2t.train.early_stop import EarlyStop
from m2t.train.handoff import check_init
from m2t.train.metrics import MetricsWriter, read_metrics
from m2t.train.schedule import lr_factor, warmup_cosine
from m2t.train.state import rng_state, set_rng_state
from m2t.train.trainer import run_name

ZERO2 = REPO_ROOT / "jobs" / "configs" / "zero2.json"
ENCODER = "esm2:tiny:d64-l2-h4-seed0"


# ---- DeepSpeed config -----------------------------------------------------------------------
def test_zero2_auto_values_come_from_the_stage_config():
    stage = StageConfig(micro_batch_size=4, grad_accum=3, grad_clip=0.5)
    ds = fill_deepspeed_config(ZERO2, stage_cfg=stage, world_size=8, bf16=True)
    assert ds["train_micro_batch_size_per_gpu"] == 4 and ds["gradient_accumulation_steps"] == 3
    assert ds["train_batch_size"] == 4 * 3 * 8 and ds["gradient_clipping"] == 0.5
    assert ds["bf16"] == {"enabled": True} and ds["zero_optimization"]["stage"] == 2
    assert "optimizer" not in ds and "scheduler" not in ds  # torch AdamW + LambdaLR: no fused_adam build
    cpu = fill_deepspeed_config(ZERO2, stage_cfg=stage, world_size=2, bf16=False)
    assert cpu["bf16"] == {"enabled": False} and cpu["train_batch_size"] == 24
    assert json.loads(ZERO2.read_text())["train_batch_size"] == "auto"  # the file itself is untouched


def test_explicit_values_must_agree_and_optimizer_blocks_are_refused():
    stage = StageConfig(micro_batch_size=8)
    base = json.loads(ZERO2.read_text())
    assert (
        fill_deepspeed_config({**base, "train_micro_batch_size_per_gpu": 8}, stage_cfg=stage, world_size=2, bf16=False)[
            "train_micro_batch_size_per_gpu"
        ]
        == 8
    )
    with pytest.raises(ConfigError, match=r"'train_micro_batch_size_per_gpu' is 4 .* gives 8"):
        fill_deepspeed_config({**base, "train_micro_batch_size_per_gpu": 4}, stage_cfg=stage, world_size=2, bf16=False)
    with pytest.raises(ConfigError, match="remove the 'optimizer' block"):
        fill_deepspeed_config({**base, "optimizer": {"type": "AdamW"}}, stage_cfg=stage, world_size=2, bf16=False)


# ---- LR schedule ----------------------------------------------------------------------------
def test_warmup_then_cosine_to_the_floor():
    kw = {"warmup_steps": 4, "total_steps": 20, "min_lr_ratio": 0.1}
    assert [lr_factor(s, **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, **kw) == 1.0 and math.isclose(lr_factor(20, **kw), 0.1)
    assert math.isclose(lr_factor(12, **kw), 0.1 + 0.9 * 0.5)  # halfway through the decay
    decay = [lr_factor(s, **kw) for s in range(4, 21)]
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert lr_factor(0, warmup_steps=0, total_steps=10, min_lr_ratio=0.0) == 1.0


def test_lambda_lr_follows_the_factor_per_optimizer_step():
    param = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([param], lr=2e-3)
    sched = warmup_cosine(opt, warmup_steps=2, total_steps=6, min_lr_ratio=0.0)
    seen = []
    for _ in range(6):
        seen.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    expected = [2e-3 * lr_factor(s, warmup_steps=2, total_steps=6, min_lr_ratio=0.0) for s in range(6)]
    assert seen == pytest.approx(expected)
    assert sched.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


def test_step_counts_may_be_epochs_and_max_epochs_caps_the_stage():
    stage = load_config(
        None,
        [
            "train.finetune.steps=3 epochs",
            "train.finetune.eval_every=0.5 epoch",
            "train.finetune.checkpoint_every=1 epoch",
            "train.finetune.warmup_steps=0.1 epochs",
            "train.finetune.micro_batch_size=4",
            "train.finetune.group_by_length=1",
        ],
    ).train.finetune
    assert (stage.steps, stage.eval_every) == ("3 epochs", "0.5 epochs")
    # 50 rows on 2 workers: 25 each, 7 micro-batches of 4 (the last short) = 7 steps an epoch
    resolved, schedule = resolve_schedule(stage, train_rows=50, workers=2)
    assert (resolved.steps, resolved.eval_every, resolved.checkpoint_every, resolved.warmup_steps) == (21, 4, 7, 1)
    assert schedule == {"steps_per_epoch": 7.0, "steps": 21, "limit": "steps"}
    capped, schedule = resolve_schedule(stage.model_copy(update={"max_epochs": 2}), train_rows=50, workers=2)
    assert (capped.steps, schedule["limit"]) == (14, "max_epochs")
    plain, schedule = resolve_schedule(StageConfig(steps=5, max_epochs=2), train_rows=50, workers=2)
    assert (plain.steps, schedule["limit"]) == (5, "steps")  # the cap (14 steps) only ever shortens
    assert (
        resolve_schedule(
            StageConfig(steps=5, grad_accum=2, micro_batch_size=4, group_by_length=1, max_epochs=1),
            train_rows=50,
            workers=2,
        )[0].steps
        == 4
    )  # 7 micro-batches = 3.5 steps: rounded up
    with pytest.raises(ConfigError, match="is not a step count"):
        load_config(None, ["train.pretrain.steps=3 weeks"])
    with pytest.raises(ConfigError, match="at least 1 steps"):
        load_config(None, ["train.pretrain.checkpoint_every=0"])


# ---- loss weighting ---------------------------------------------------------------------------
def test_each_supervised_token_of_a_step_weighs_the_same_whatever_its_micro_batch():
    """A step of two micro-batches, one of a short answer and one of a long one (as length grouping makes them):
    averaging the token-weighted micro-batch losses (what DeepSpeed does with their gradients) gives the gradient of
    the mean over all the step's tokens; the plain average of the two means (the loop before) does not, and weighs
    the short answer's tokens several times more."""
    cfg = load_config(None, ["train.seed=0"])
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=64)
    model.eval()  # no dropout: the same forward each time
    rng = np.random.default_rng(0)
    texts = ["Loss of activity.", "The mutation in the kinase domain abolishes catalytic activity and reduces binding."]
    wt, mut = ([rng.standard_normal((12, 64)).astype(np.float32) for _ in texts] for _ in range(2))

    def batch(rows: list[int]) -> dict:
        columns = {"id": [str(i) for i in rows], "description": [texts[i] for i in rows]}
        made = {k: np.array(v, dtype=object) for k, v in columns.items()}
        made |= {"wt_emb": [wt[i] for i in rows], "mut_emb": [mut[i] for i in rows]}
        return BatchMaker(tokenizer=model.tokenizer, model_cfg=cfg.model, store=None)(made)

    short, long, both = batch([0]), batch([1]), batch([0, 1])

    def grad(loss_of):
        model.zero_grad(set_to_none=True)
        loss_of().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])

    counts = [supervised_tokens(short), supervised_tokens(long)]
    assert counts[1] > 3 * counts[0]
    union = grad(lambda: model(**both).loss)
    weighted = grad(
        lambda: sum(
            token_weighted(model(**b).loss, tokens=n, step_tokens=sum(counts), parts=2) / 2
            for b, n in zip((short, long), counts, strict=True)
        )
    )
    plain = grad(lambda: (model(**short).loss + model(**long).loss) / 2)
    assert torch.allclose(weighted, union, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(plain, union, rtol=1e-2, atol=1e-5)


# ---- early stopping ---------------------------------------------------------------------------
def test_early_stop_ends_after_patience_evals_without_a_new_low_and_survives_a_restore():
    stop = EarlyStop(patience=2)
    lows = [stop.update(step=s, val_loss=v) for s, v in [(10, 3.0), (20, 2.5), (30, 2.6), (40, 2.5)]]
    assert lows == [True, True, False, False]  # equal to the low is not a new low
    assert (stop.best_step, stop.best_val_loss, stop.evals_since_best, stop.out_of_patience) == (20, 2.5, 2, True)
    again = EarlyStop.restore(patience=2, state=json.loads(json.dumps(stop.state())))  # through a checkpoint
    assert again == stop
    resumed = EarlyStop.restore(patience=3, state={**stop.state(), "evals_since_best": 1})  # patience: the config's
    assert not resumed.out_of_patience and resumed.update(step=50, val_loss=2.4) and resumed.evals_since_best == 0
    off = EarlyStop(patience=0)
    assert [off.update(step=s, val_loss=9.0) for s in (1, 2, 3)] == [True, False, False] and not off.out_of_patience
    nan = EarlyStop(patience=1)
    assert not nan.update(step=1, val_loss=float("nan")) and nan.best_step is None and nan.out_of_patience


# ---- metrics log ----------------------------------------------------------------------------
def test_metrics_restart_keeps_the_restored_steps_and_drops_a_torn_line(tmp_path):
    writer = MetricsWriter(out_dir=tmp_path, start_step=0)
    for step in range(1, 8):
        writer.log({"step": step, "loss": 5.0 - 0.1 * step, **({"val_loss": 4.9} if step % 5 == 0 else {})})
    writer.close()
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 8, "lo')  # killed mid-line
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == list(range(1, 8))
    resumed = MetricsWriter(out_dir=tmp_path, start_step=5)  # the checkpoint was at step 5
    resumed.log({"step": 6, "loss": 1.0})
    resumed.close()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and rows[-1]["loss"] == 1.0
    png = resumed.plot()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave no temp files
    MetricsWriter(out_dir=tmp_path, start_step=0).close()  # a fresh run starts an empty log
    assert read_metrics(tmp_path / "metrics.jsonl") == []


# ---- stage handoff --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stage1_ckpt(tmp_path_factory):
    cfg = load_config(None)
    torch.manual_seed(0)
    model = build_model(cfg, stage="pretrain", dim_in=64, encoder_id=ENCODER)
    return cfg, save_checkpoint(model, cfg, tmp_path_factory.mktemp("stage1"))


def test_stage2_accepts_a_matching_stage1_checkpoint(stage1_ckpt):
    cfg, ckpt = stage1_ckpt
    assert check_init(cfg, ckpt, encoder_id=ENCODER, dim_in=64)["stage"] == "pretrain"
    runtime = load_config(None, ["model.gradient_checkpointing=true", "model.dtype=float32"])
    check_init(runtime, ckpt, encoder_id=ENCODER, dim_in=64)  # runtime settings may differ


def test_stage2_refuses_a_mismatched_checkpoint_naming_every_difference(stage1_ckpt, tmp_path):
    _, ckpt = stage1_ckpt
    other = load_config(None, ["model.gca.heads=8", "model.num_media_tokens=4", "model.prompt_fields=[mutation]"])
    with pytest.raises(MismatchError) as err:
        check_init(other, ckpt, encoder_id="esm3:esm3_sm_open_v1", dim_in=1536)
    text = str(err.value)
    for expected in (
        "model.gca.heads: checkpoint 4, config 8",
        "model.num_media_tokens: checkpoint 8, config 4",
        "model.prompt_fields: checkpoint [], config ['mutation']",  # trained with another prompt template
        "encoder: checkpoint 'esm2:tiny:d64-l2-h4-seed0', this run's embeddings 'esm3:esm3_sm_open_v1'",
        "embedding width: checkpoint 64, this run's embeddings 1536",
    ):
        assert expected in text
    llm = load_config(None, ["model.tiny_llm.hidden_size=32"])
    with pytest.raises(MismatchError, match=r"model.tiny_llm.hidden_size: checkpoint 64, config 32"):
        check_init(llm, ckpt, encoder_id=ENCODER, dim_in=64)
    with pytest.raises(InputError, match="stage-1 checkpoint .*absent does not exist; run `m2t pretrain`"):
        check_init(load_config(None), tmp_path / "absent", encoder_id=ENCODER, dim_in=64)


def test_stage2_refuses_a_stage2_checkpoint(tmp_path):
    cfg = load_config(None)
    model = build_model(cfg, stage="finetune", dim_in=64, encoder_id=ENCODER)
    ckpt = save_checkpoint(model, cfg, tmp_path / "stage2")
    with pytest.raises(MismatchError, match=r"stage: it is a finetune \(stage-2\) checkpoint"):
        check_init(cfg, ckpt, encoder_id=ENCODER, dim_in=64)


def test_stage_models_train_the_right_parts_and_follow_gradient_checkpointing(stage1_ckpt):
    cfg, ckpt = stage1_ckpt  # saved without gradient checkpointing
    stage1 = stage_model(cfg, stage="pretrain", init=None, resume=None, encoder_id=ENCODER, dim_in=64)
    assert not stage1.llm.is_gradient_checkpointing
    assert {n.split(".")[0] for n, p in stage1.named_parameters() if p.requires_grad} == {"adapter"}
    on = load_config(None, ["model.gradient_checkpointing=true"])
    stage2 = stage_model(on, stage="finetune", init=ckpt, resume=None, encoder_id=ENCODER, dim_in=64)
    assert stage2.llm.is_gradient_checkpointing
    trainable = [n for n, p in stage2.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    with pytest.raises(ValueError, match="starts from a stage-1 checkpoint"):
        stage_model(cfg, stage="finetune", init=None, resume=None, encoder_id=ENCODER, dim_in=64)


# ---- batches --------------------------------------------------------------------------------
def test_batches_join_store_embeddings_and_pad_to_the_longest(tmp_path):
    cfg = load_config(None)
    store = EmbeddingStore.create(tmp_path / "store", encoder_id=ENCODER, hidden_size=64, dtype="float32")
    seqs = ["MKTAYIAK", "MKTAHIAK", "MKV", "MRV", "MKTAYIAKQRQISFVKSHF"]
    rng = np.random.default_rng(0)
    embs = {s: rng.standard_normal((len(s), 64)).astype(np.float32) for s in seqs}
    store.write_shard(seqs, [torch.from_numpy(embs[s]) for s in seqs])
    rows = {
        "id": np.array(["a", "b"]),
        "wild_type": np.array(["MKTAYIAK", "MKV"]),
        "mutant": np.array(["MKTAHIAK", "MRV"]),
        "description": np.array(["The tyrosine at position 5 is replaced by histidine.", "Lysine to arginine."]),
    }
    make = BatchMaker(tokenizer=build_tokenizer(cfg.model), model_cfg=cfg.model, store=str(tmp_path / "store"))
    batch = make(rows)
    assert batch["wt_emb"].shape == (2, 8, 64) and batch["mut_emb"].shape == (2, 8, 64)  # the longest, not 1,536
    assert batch["wt_mask"].sum(1).tolist() == [8, 3] and batch["mut_mask"].sum(1).tolist() == [8, 3]
    torch.testing.assert_close(batch["wt_emb"][1, :3], torch.from_numpy(embs["MKV"]))
    assert (batch["wt_emb"][1, 3:] == 0).all()
    t = batch["input_ids"].shape[1]
    assert t == max(int(n) for n in batch["attention_mask"].sum(1))  # text padded to the batch's longest too
    answer = (batch["labels"] != IGNORE).sum(1)
    assert (answer > 0).all() and supervised_tokens(batch) == int((batch["labels"][:, 1:] != IGNORE).sum())
    streamed = make(
        {
            **rows,
            "wt_emb": np.array([embs["MKTAYIAK"], embs["MKV"]], dtype=object),
            "mut_emb": np.array([embs["MKTAHIAK"], embs["MRV"]], dtype=object),
        }
    )
    for key in batch:  # rows that carry embeddings (stream mode) give the same batch
        torch.testing.assert_close(streamed[key], batch[key], rtol=0, atol=0)
    with pytest.raises(KeyError, match="embed it first"):
        make({**rows, "wild_type": np.array(["MKTAYIAK", "MWWWW"])})


def test_a_training_row_is_told_the_neighbour_of_another_protein_never_its_own():
    """With model.prompt_fields naming neighbour, each row's prompt states the description of the nearest other
    protein's closest mutation in the train split's index: a row of an indexed protein never sees its own answer."""
    cfg = load_config(None, ["model.prompt_fields=[mutation,neighbour]"])
    p53 = "MEEPQSDPSVEPPLSQETFSDLWKLLPENNVLSPLPSQAMDDLMLSPDDIEQWFTEDPGPDEAPRMP"
    close = p53[:30] + "W" + p53[31:]  # another protein, nearly the same sequence
    index = NeighbourIndex(
        [
            {"protein_id": "P1", "wild_type": p53, "mutations": ["E2A"], "description": "Own answer."},
            {"protein_id": "P2", "wild_type": close, "mutations": ["E3A"], "description": "The close one's."},
        ]
    )
    rows = {
        "id": np.array(["a"]),
        "wild_type": np.array([p53]),
        "mutant": np.array(["M" + "A" + p53[2:]]),
        "mutations": np.array([np.array(["E2A"])], dtype=object),
        "protein_id": np.array(["P1"]),
        "description": np.array(["Own answer."]),
        "wt_emb": [np.zeros((len(p53), 64), np.float32)],
        "mut_emb": [np.zeros((len(p53), 64), np.float32)],
    }
    tok = build_tokenizer(cfg.model)
    make = BatchMaker(tokenizer=tok, model_cfg=cfg.model, store=None, neighbours=index)
    assert make.facts(rows, 0).neighbour == "The close one's."
    batch = make(rows)
    prompt = tok.decode(batch["input_ids"][0][batch["labels"][0] == IGNORE])
    assert "Nearest known mutation: The close one's." in prompt and "Own answer" not in prompt
    with pytest.raises(ValueError, match="neighbour index"):
        BatchMaker(tokenizer=tok, model_cfg=cfg.model, store=None)


def test_length_groups_batch_similar_lengths_in_a_random_order():
    gen = np.random.default_rng(1)
    lengths = gen.integers(20, 400, size=64)
    rows = {
        "id": np.array([f"r{i}" for i in range(64)]),
        "wild_type": np.array(["A" * n for n in lengths]),
        "description": np.array(["d" * int(n) for n in gen.integers(10, 200, size=64)]),
    }
    groups = length_groups(rows, batch_size=8, rng=np.random.default_rng(0))
    assert [len(g["id"]) for g in groups] == [8] * 8
    assert sorted(i for g in groups for i in g["id"]) == sorted(rows["id"])  # every row exactly once
    for g in groups:  # each row keeps its own fields
        assert all(rows["wild_type"][int(i[1:])] == w for i, w in zip(g["id"], g["wild_type"], strict=True))
    texts = [len(d) for d in rows["description"]]
    padded = sum(8 * max(len(d) for d in g["description"]) for g in groups)
    plain = sum(8 * max(texts[i : i + 8]) for i in range(0, 64, 8))  # the same rows in arrival order
    assert padded < 0.75 * plain
    spans = sorted((min(len(d) for d in g["description"]), max(len(d) for d in g["description"])) for g in groups)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in itertools.pairwise(spans))  # groups don't overlap in length
    longest = [max(len(d) for d in g["description"]) for g in groups]
    assert longest != sorted(longest)  # the batches come in a shuffled order, not shortest first
    again = length_groups(rows, batch_size=8, rng=np.random.default_rng(0))
    assert [list(g["id"]) for g in again] == [list(g["id"]) for g in groups]  # seeded
    tail = length_groups({k: v[:13] for k, v in rows.items()}, batch_size=8, rng=np.random.default_rng(0))
    assert sorted(len(g["id"]) for g in tail) == [5, 8]


# ---- RNG, publishing, run names -------------------------------------------------------------
def test_rng_state_round_trips_through_json():
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    state = json.loads(json.dumps(rng_state()))
    first = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(first[0], again[0])
    assert np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_run_name_changes_with_training_settings_only():
    name = run_name(load_config(None), stage="pretrain", init=None, encoder_id=ENCODER)
    assert name.startswith("pretrain-") and len(name) == len("pretrain-") + 10
    same = load_config(None, ["train.max_failures=5", "model.gradient_checkpointing=true", "train.report_poll_s=1"])
    assert run_name(same, stage="pretrain", init=None, encoder_id=ENCODER) == name
    for change in ("train.pretrain.steps=7", "model.num_media_tokens=4", "train.num_workers=1", "data.split_seed=1"):
        assert run_name(load_config(None, [change]), stage="pretrain", init=None, encoder_id=ENCODER) != name, change
    assert run_name(load_config(None), stage="pretrain", init=None, encoder_id="esm2:other") != name
    assert (
        run_name(load_config(None, ["train.run_name=mine"]), stage="pretrain", init=None, encoder_id=ENCODER) == "mine"
    )
