"""`python jobs/study.py --quick` end to end on the real MutaDescribe samples and the real SmolLM2 weights, its rerun
(which resumes: nothing is trained or described again), then `jobs/evaluate.py` with the study's checkpoint on rows
it never saw (a 1,024-residue protein among them)."""

from __future__ import annotations

import csv
import json
import runpy
import sys

import pytest

from m2t.config import REPO_ROOT
from m2t.infer.metrics import METRICS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def run_job(script: str, *args: str, monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO_ROOT / "jobs" / script), run_name="__main__")
    return exited.value.code


@pytest.fixture(scope="module")
def study(ray_cluster, smollm2_dir, mutadescribe_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        code = run_job("study.py", "--quick", "--output", str(out), f"output.root={out / 'outputs'}", monkeypatch=mp)
    assert code == 0
    first = json.loads((out / "results.json").read_text())
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl") if "predictions" in p.parts or "val" in p.parts}
    with pytest.MonkeyPatch.context() as mp:
        code = run_job("study.py", "--quick", "--output", str(out), f"output.root={out / 'outputs'}", monkeypatch=mp)
    assert code == 0
    rewritten = [p for p, mtime in written.items() if p.stat().st_mtime_ns != mtime]
    return out, first, json.loads((out / "results.json").read_text()), rewritten


def test_quick_study_scores_every_variant_on_the_test_file(study):
    out, results, _, _ = study
    assert set(results["variants"]) == {"m2t", "m2t_protein_zeroed", "text_only", "zero_shot", "retrieval"}
    for variant in results["variants"].values():
        metrics = variant["metrics"]["test_medium"]
        assert metrics["n"] == 4 and all(0 <= metrics[m] <= 1 for m in METRICS)
    data = results["data"]
    assert data["proteins_in_train_and_test"] == 0 and data["removed_for_test_proteins"] >= 4
    assert (data["train"]["rows"], data["val"]["rows"], data["tests"]["test_medium"]["rows"]) == (16, 4, 4)
    assert data["tests"]["test_medium"]["in_file"] == 384  # what was scored is said against the whole file
    assert {c["steps"] for c in results["cost"].values()} == {2}
    assert {c["stop_reason"] for c in results["cost"].values()} == {"steps"}
    intervals = results["intervals"]["test_medium"]
    assert set(intervals) == {"m2t_protein_zeroed", "text_only", "zero_shot", "retrieval"}
    for b in intervals.values():
        assert all(b[m]["low"] <= b[m]["diff"] + 1e-12 and b[m]["diff"] <= b[m]["high"] + 1e-12 for m in METRICS)
    decoding = results["decoding"]
    assert len(decoding["candidates"]) == len(results["config"]["study"]["decoding"])
    assert decoding["generation"]["max_new_tokens"] == 8 and decoding["length_ratio"] > 0
    assert (out / "val_loss.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "### test_medium (4 of its 384 rows scored, " in report
    assert "| variant | BLEU-2 | BLEU-4 | METEOR | ROUGE-1 | ROUGE-2 | ROUGE-L | median words |" in report
    assert "| m2t minus | BLEU-2 |" in report and "Does the protein path help? against m2t_protein_zeroed" in report
    assert "## Decoding, chosen on val" in report and "python jobs/study.py --quick" in report
    predictions = [json.loads(line) for line in (out / "predictions" / "m2t" / "test_medium.jsonl").open()]
    assert len(predictions) == 4 and all(p["reference"] for p in predictions)
    assert set(predictions[0]["scores"]) == {"meteor", "rouge1", "rouge2", "rougeL", "bleu"}


def test_a_rerun_resumes_and_keeps_the_time_of_the_invocation_that_did_the_work(study):
    _, first, again, rewritten = study
    assert again["variants"] == first["variants"] and again["intervals"] == first["intervals"]
    assert rewritten == []  # no prediction made again (5 variants, and m2t on val with each decoding candidate)
    assert again["timings_s"] == first["timings_s"]  # nor trained again: the first invocation's seconds stay
    assert {k: c["wall_s"] for k, c in again["cost"].items()} == {k: c["wall_s"] for k, c in first["cost"].items()}


def test_evaluate_takes_the_study_checkpoint_and_crops_rather_than_rejects(
    study, mutadescribe_dir, tmp_path, monkeypatch
):
    _, results, _, _ = study
    with (mutadescribe_dir / "test_easy.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    seq = rows[0].index("protein1")
    picked = [rows[0], next(r for r in rows[1:] if len(r[seq]) > 1022), *[r for r in rows[1:] if len(r[seq]) < 200][:2]]
    data = tmp_path / "unseen.csv"
    with data.open("w", newline="") as fh:
        csv.writer(fh).writerows(picked)
    code = run_job(
        "evaluate.py",
        "--checkpoint",
        results["checkpoints"]["m2t"],
        "--data",
        str(data),
        "--output",
        str(tmp_path / "e"),
        "generation.max_new_tokens=8",
        monkeypatch=monkeypatch,
    )
    assert code == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())["files"]["unseen"]
    assert (metrics["n"], metrics["rejected"]) == (3, 0)
    first = json.loads((tmp_path / "e" / "predictions.jsonl").read_text().splitlines()[0])
    assert first["window_start"] is not None  # the 1,024-residue protein, cropped around its mutation
