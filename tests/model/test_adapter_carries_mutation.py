"""The information-flow guard: the protein vectors must carry the mutation all the way into the text.

Train the tiny model on substitutions whose answer names the new residue ("The residue is replaced
by histidine."), then greedy-decode held-out mutants of held-out proteins: the named residue must be
right far above chance (1 in 19), and the same recipe with the protein vectors zeroed must stay near
chance. Embeddings come from the tiny random ESM-2 twin (``EncoderConfig(backend="esm2")``), which this guard was
calibrated on. The adapter AND the whole tiny
LLM train: the random tiny Llama knows no language, and with LoRA on a frozen random LM head its
answers stay near-uniform (argmax right, probabilities flat).
"""

from __future__ import annotations

import random
import re

import pytest
import torch
from model_fixtures import tiny_cfg

from m2t.config import EncoderConfig
from m2t.encoders import build_encoder
from m2t.model import build_model, collate, make_example

AA = "ACDEFGHIKLMNPQRSTVWY"
NAMES = dict(
    zip(
        AA,
        [
            "alanine",
            "cysteine",
            "aspartate",
            "glutamate",
            "phenylalanine",
            "glycine",
            "histidine",
            "isoleucine",
            "lysine",
            "leucine",
            "methionine",
            "asparagine",
            "proline",
            "glutamine",
            "arginine",
            "serine",
            "threonine",
            "valine",
            "tryptophan",
            "tyrosine",
        ],
        strict=True,
    )
)
STEPS, LR, BATCH = 800, 1.5e-3, 32


def substitutions(rng: random.Random, n_proteins: int, per_protein: int) -> list[tuple[str, str, str]]:
    """``(wild type, mutant, new residue)`` triples: random proteins of 20-40 residues, one substitution each."""
    out = []
    for _ in range(n_proteins):
        wt = "".join(rng.choice(AA) for _ in range(rng.randint(20, 40)))
        for _ in range(per_protein):
            i = rng.randrange(len(wt))
            new = rng.choice([a for a in AA if a != wt[i]])
            out.append((wt, wt[:i] + new + wt[i + 1 :], new))
    return out


def train_and_score(train, test, emb: dict[str, torch.Tensor], *, zero: bool) -> tuple[float, list[str]]:
    """Train adapter + tiny LLM from the same init; greedy accuracy of the named residue on ``test``."""
    cfg = tiny_cfg()
    torch.manual_seed(0)
    rng = random.Random(0)
    model = build_model(cfg, stage="pretrain", dim_in=next(iter(emb.values())).shape[1])
    model.llm.requires_grad_(True)  # the tiny random LLM must also learn to write (see the module docstring)

    def example(wt: str, mut: str, new: str | None) -> dict:
        ex = make_example(
            model.tokenizer, cfg.model, None if new is None else f"The residue is replaced by {NAMES[new]}."
        )
        ex["wt_emb"], ex["mut_emb"] = (
            (torch.zeros_like(emb[wt]), torch.zeros_like(emb[mut])) if zero else (emb[wt], emb[mut])
        )
        return ex

    examples = [example(*t) for t in train]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * max(0.1, 1 - s / STEPS))
    model.train()
    for _ in range(STEPS):
        loss = model(**collate(rng.sample(examples, BATCH), pad_id=model.pad_id)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
    batch = collate([example(wt, mut, None) for wt, mut, _ in test], pad_id=model.pad_id)
    texts = model.generate(
        wt_emb=batch["wt_emb"],
        wt_mask=batch["wt_mask"],
        mut_emb=batch["mut_emb"],
        mut_mask=batch["mut_mask"],
        max_new_tokens=12,
    )
    named = [m.group(1) if (m := re.search(r"replaced by (\w+)", t)) else None for t in texts]
    return sum(n == NAMES[new] for n, (_, _, new) in zip(named, test, strict=True)) / len(test), texts


@pytest.mark.slow
def test_adapter_carries_mutation():
    torch.set_num_threads(2)
    rng = random.Random(0)
    train, test = substitutions(rng, 250, 20), substitutions(rng, 30, 5)  # test: held-out proteins
    encoder = build_encoder(EncoderConfig(backend="esm2"))
    sequences = sorted({s for wt, mut, _ in train + test for s in (wt, mut)})
    emb = dict(zip(sequences, (e.float().cpu() for e in encoder.embed(sequences)), strict=True))

    accuracy, texts = train_and_score(train, test, emb, zero=False)
    control, control_texts = train_and_score(train, test, emb, zero=True)

    assert accuracy >= 0.5, f"names the new residue in {accuracy:.0%} of held-out mutants; e.g. {texts[:3]}"
    assert control <= 0.2, f"zeroed protein vectors still reach {control:.0%}: the answer leaks from elsewhere"
    assert accuracy - control >= 0.3, (accuracy, control, control_texts[:3])
