"""Batch scoring on a real Ray cluster: scans give 19 x positions rows, counts reconcile, reruns resume, bad rows are rejected."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import model_logprobs, tiny_config

from m2t.data.amino_acids import STANDARD
from m2t.encoders import build_encoder
from m2t.errors import MismatchError
from m2t.infer.batch_score import batch_score
from m2t.model import trained_config

REPO = Path(__file__).resolve().parents[2]
WT_A = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
WT_B = "MKV"
FASTA = f">wt_a first wild type\n{WT_A[:20]}\n{WT_A[20:]}\n>wt_b\n{WT_B}\n>wt_bad\nMKXZ\n"
SETTINGS = (
    "generation.max_new_tokens=3",
    "generation.batch_size=8",
    "batch_score.batch_rows=16",
    "batch_score.cpus_per_actor=0.5",
)


def run_job(*args: str, root: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """jobs/batch_score.py in this process, on the session's Ray cluster, with outputs under ``root``."""
    script = REPO / "jobs" / "batch_score.py"
    monkeypatch.setattr(sys, "argv", [str(script), *args, f"output.root={root}", *SETTINGS])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def page_of(path) -> str:
    return path.read_text(encoding="utf-8")


def checkpoint_logprobs(checkpoint: Path, wild_type: str) -> torch.Tensor:
    return model_logprobs(build_encoder(trained_config(checkpoint).encoder), wild_type)


def effect(checkpoint: Path, wild_type: str, substitution: str) -> float:
    """``substitution``'s score straight from the checkpoint's encoder: lp[mutant] - lp[wild type] at its site."""
    lp, pos = checkpoint_logprobs(checkpoint, wild_type), int(substitution[1:-1])
    return float(lp[pos - 1, STANDARD.index(substitution[-1])] - lp[pos - 1, STANDARD.index(substitution[0])])


def reconciles(summary: dict) -> bool:
    return summary["total"] == summary["scored"] + summary["rejected"] + summary["skipped"]


@pytest.mark.slow
def test_scan_counts_and_resume(ray_cluster, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    fasta = tmp_path / "wt.fasta"
    fasta.write_text(FASTA)
    out = tmp_path / "batch_score"
    code, stdout, stderr = run_job(
        "--checkpoint",
        str(tiny_checkpoint),
        "--scan",
        str(fasta),
        "--positions",
        "1-4",
        root=tmp_path,
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 0, stderr[-3000:]
    assert "133 scored, 0 skipped" in stdout
    assert f"scan of wt_a: heatmap {out / 'scan_wt_a.png'}, report {out / 'scan_wt_a.html'}" in stdout
    summary = json.loads((out / "summary.json").read_text())
    # wt_a: 4 positions x 19; wt_b has 3 residues: 3 x 19 and position 4 rejected; wt_bad rejected whole
    assert (summary["scored"], summary["rejected"], summary["skipped"]) == (4 * 19 + 3 * 19, 2, 0)
    assert summary["total"] == 135 and reconciles(summary)
    assert summary["by_reason"] == {"notation_mismatch": 1, "bad_alphabet": 1}
    # every wild type once, every mutant once: encoder calls = unique wild types + mutants
    assert summary["encoder"] == {
        "wild_types": 2,
        "mutants": 133,
        "sequences": 135,
        "distinct_wild_types": 2,
        "distinct_mutants": 133,
    }

    table = pq.read_table(out / "predictions.parquet")
    assert table.column_names == [
        "id",
        "wild_type_id",
        "mutations",
        "window_start",
        "description",
        "effect_score",
        "effect_score_note",
        "effect_score_source",
    ]
    # the tiny ESM-2 twin has random weights: every output that shows its scores says they mean nothing
    twin = "esm2:tiny:d64-l2-h4-seed0"
    assert set(table.column("effect_score_source").to_pylist()) == {
        f"esm-wt-marginal ({twin}) — RANDOM WEIGHTS, meaningless"
    }
    assert table.schema.metadata[b"effect_score_method"] == b"esm-wt-marginal"
    assert table.schema.metadata[b"effect_score_encoder_id"] == twin.encode()
    assert table.schema.metadata[b"effect_score_warning"].startswith(b"RANDOM WEIGHTS: " + twin.encode())
    assert summary["effect_score"]["method"] == "esm-wt-marginal" and summary["effect_score"]["random_weights"]
    assert summary["effect_score"]["warning"].startswith(f"RANDOM WEIGHTS: {twin} is a seeded random twin")
    assert "RANDOM WEIGHTS" in page_of(out / "scan_wt_a.html")
    assert (summary["effect_score"]["scored"], summary["effect_score"]["null"]) == (133, 0)
    rows = table.to_pylist()
    # every score is the wild type's log-likelihood ratio from the encoder's own logits
    lp = checkpoint_logprobs(tiny_checkpoint, WT_A)
    for r in rows[:40]:
        assert r["wild_type_id"] == "wt_a" and r["effect_score_note"] is None
        (m,) = r["mutations"]
        pos, wild, alt = int(m[1:-1]), STANDARD.index(m[0]), STANDARD.index(m[-1])
        assert r["effect_score"] == pytest.approx(float(lp[pos - 1, alt] - lp[pos - 1, wild]), abs=1e-5)
    # the pictures: one set per scanned wild type, listed in the summary
    report = summary["outputs"]["scan_report"]
    assert set(report) == {"wt_a", "wt_b"}
    assert report["wt_a"] == {"png": [str(out / "scan_wt_a.png")], "html": str(out / "scan_wt_a.html")}
    page = page_of(out / "scan_wt_a.html")
    assert page.count("data-mutation=") == 4 * 19 and page.count('class="wt"') == 4
    assert {r["window_start"] for r in rows} == {None}  # short wild types: nothing cropped
    assert len(rows) == summary["written"] == 133
    assert [r["id"] for r in rows[:19]] == [f"wt_a:M1{aa}" for aa in STANDARD if aa != "M"]  # input order
    assert {r["id"] for r in rows} == {
        f"{name}:{wt[p - 1]}{p}{aa}"
        for name, wt, n in (("wt_a", WT_A, 4), ("wt_b", WT_B, 3))
        for p in range(1, n + 1)
        for aa in STANDARD
        if aa != wt[p - 1]
    }
    assert all(r["mutations"] == [r["id"].split(":")[1]] and r["wild_type_id"] == r["id"].split(":")[0] for r in rows)
    assert all(isinstance(r["description"], str) for r in rows)
    assert [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()] == rows
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {r["kind"]: r["line"] for r in rejects} == {"notation_mismatch": 4, "bad_alphabet": 6}
    assert "position 4 is past the end of wt_b (3 residues)" in rejects[0]["reason"]

    # rerun with one more position and one part lost: only the new and the lost rows are scored
    parts = sorted((out / "parts").glob("part-*.parquet"))
    lost = pq.read_table(parts[0]).column("id").to_pylist()
    parts[0].unlink()
    again = batch_score(
        tiny_config(tmp_path, *SETTINGS), checkpoint=tiny_checkpoint, output=out, scan=fasta, positions="1-5"
    )
    assert again["scored"] == 19 + len(lost) and again["skipped"] == 133 - len(lost)
    assert again["rejected"] == 3 and reconciles(again)  # wt_b: positions 4 and 5 and again["written"] == 152
    ids = pq.read_table(out / "predictions.parquet").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 152 and set(lost) <= set(ids)

    # decoding changed: refuse to mix descriptions of two settings in one output
    with pytest.raises(MismatchError, match="max_new_tokens"):
        batch_score(
            tiny_config(tmp_path, *SETTINGS, "generation.max_new_tokens=5"),
            checkpoint=tiny_checkpoint,
            output=out,
            scan=fasta,
            positions="1-5",
        )


def test_mutation_set_rows_and_rejects(ray_cluster, tiny_checkpoint, tmp_path):
    wt = WT_A
    rows = [
        {"id": "v1", "wild_type_id": "P1", "wild_type": wt, "mutations": "K2R"},
        {"id": "v2", "wild_type_id": "P1", "wild_type": wt, "mutations": ["K2R", "Q9A"]},
        {"id": "v3", "wild_type": wt, "mutant": wt[:4] + "W" + wt[5:]},  # no wild_type_id: a hash of the sequence
        {"id": "v4", "wild_type_id": "P2", "wild_type": "MKLVAAGIVAL", "mutations": "L3P"},
        {"id": "bad1", "wild_type": wt, "mutations": "R2H"},  # position 2 is K
        {"id": "bad2", "wild_type": wt + "J", "mutations": "K2R"},  # J is no amino acid
        {"id": "bad3", "wild_type": wt},  # neither mutations nor mutant
        {"id": "v1", "wild_type": wt, "mutations": "T3A"},  # repeated id
        {"id": "v5", "wild_type_id": "P1", "wild_type": wt, "mutations": ["K2R", "A4del"]},  # an indel: no score
    ]
    path = tmp_path / "variants.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = batch_score(
        tiny_config(tmp_path, *SETTINGS), checkpoint=tiny_checkpoint, output=tmp_path / "out", inputs=[path]
    )
    assert (summary["total"], summary["scored"], summary["rejected"], summary["skipped"]) == (9, 5, 4, 0)
    assert summary["encoder"]["wild_types"] == 2 and summary["encoder"]["mutants"] == 5
    assert "scan_report" not in summary["outputs"]
    got = pq.read_table(tmp_path / "out" / "predictions.parquet").to_pylist()
    assert [(r["id"], r["wild_type_id"], r["mutations"]) for r in got[:2]] == [
        ("v1", "P1", ["K2R"]),
        ("v2", "P1", ["K2R", "Q9A"]),
    ]
    assert got[2]["id"] == "v3" and got[2]["wild_type_id"].startswith("wt-") and got[2]["mutations"] == ["Y5W"]
    scores = {r["id"]: (r["effect_score"], r["effect_score_note"]) for r in got}
    assert scores["v2"][0] == pytest.approx(scores["v1"][0] + effect(tiny_checkpoint, wt, "Q9A"), abs=1e-5)
    assert scores["v5"][0] is None and scores["v5"][1].startswith("no effect score for A4del: the wild-type-marginal")
    assert all(note is None for score, note in scores.values() if score is not None)
    rejects = {r["line"]: r for r in map(json.loads, (tmp_path / "out" / "rejects.jsonl").read_text().splitlines())}
    assert sorted(rejects) == [5, 6, 7, 8]
    assert "mutation R2H expects R at position 2, found K" in rejects[5]["reason"]
    assert rejects[6]["kind"] == "bad_alphabet" and rejects[7]["kind"] == "missing_field"
    assert rejects[8]["kind"] == "duplicate_id"


def test_bad_invocations_exit_2(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    fasta = tmp_path / "wt.fasta"
    fasta.write_text(FASTA)
    code, _, err = run_job(
        "--checkpoint",
        str(tiny_checkpoint),
        "--positions",
        "1-3",
        "--input",
        str(fasta),
        root=tmp_path,
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "--positions only applies to --scan" in err
    code, _, err = run_job("--scan", str(fasta), root=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and "m2t finetune" in err
