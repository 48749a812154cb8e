"""jobs/evaluate.py end to end on an untrained tiny checkpoint: per-file metrics, predictions, rejects, report, exit codes."""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import pytest
from conftest import tiny_config

from m2t.data.split import split_records
from m2t.data.synthetic import generate
from m2t.infer.evaluate import evaluate
from m2t.infer.metrics import METRICS, score
from m2t.infer.report import HEADERS
from m2t.model.card import read_card
from m2t.tracking import client as mlflow_client
from m2t.tracking import default_uri

REPO = Path(__file__).resolve().parents[2]
WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQKPLVA"
COLUMNS = [
    "",
    "Unnamed: 0",
    "entry",
    "protein1",
    "protein2",
    "uniprot_description",
    "GPT_description",
    "protein_name",
    "function",
]


def _mutate(seq: str, pos: int, aa: str) -> str:
    return seq[: pos - 1] + aa + seq[pos:]


def write_mutadescribe(path: Path) -> Path:
    rows = [
        [
            "0",
            "0",
            "P00001-K2R",
            WT,
            _mutate(WT, 2, "R"),
            "Loss of activity.",
            "The mutation disrupts binding.",
            "Kinase A",
            "f",
        ],
        ["1", "1", "P00001-Q9A", WT, _mutate(WT, 9, "A"), "No effect on activity.", "", "Kinase A", "f"],
        ["2", "2", "P00002-L3P", "MKLVAAGIVAL", "MKPVAAGIVAL", "", "Proline disrupts the helix.", "Helix B", "f"],
        ["3", "3", "P00002-V4D", "MKLVAAGIVAL", "MKLDAAGIVAL", "", "", "Helix B", "f"],  # no text: rejected
        [
            "4",
            "4",
            "P00002-W5G",
            "MKLVAAGIVAL",
            "MKLVGAGIVAL",
            "Wrong entry.",
            "x",
            "Helix B",
            "f",
        ],  # A5, not W5: rejected
    ]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def write_seed_jsonl(path: Path) -> Path:
    items = [
        {"wild_type_seq": WT, "mutation_seq": _mutate(WT, 5, "W"), "text_description": "<delta_P> Reduced stability."},
        {"wild_type_seq": WT, "mutation_seq": _mutate(WT, 7, "G"), "text_description": "Increased activity."},
    ]
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def run_job(*args: str, root: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """Run jobs/evaluate.py in this process (as ``__main__``) with every output and the store under ``root``;
    returns (exit code, stdout, stderr)."""
    script = REPO / "jobs" / "evaluate.py"
    monkeypatch.setattr(sys, "argv", [str(script), *args, f"output.root={root}", f"embed.store={root / 'embeddings'}"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_evaluate_reports_metrics_per_file(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    csv_path, jsonl_path = write_mutadescribe(tmp_path / "muta.csv"), write_seed_jsonl(tmp_path / "seed.jsonl")
    out = tmp_path / "eval"
    code, stdout, stderr = run_job(
        "--checkpoint",
        str(tiny_checkpoint),
        "--data",
        str(csv_path),
        str(jsonl_path),
        "--output",
        str(out),
        "generation.max_new_tokens=6",
        "generation.batch_size=2",
        root=tmp_path,
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 0, stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["files"]) == {"muta", "seed"}
    # no store: 2 distinct wild types (the seed file reuses WT from the LRU) + 5 mutants
    assert metrics["embeddings"] == {"from_store": 0, "encoded": 2 + 5}
    assert metrics["files"]["muta"]["n"] == 3 and metrics["files"]["muta"]["rejected"] == 2
    assert metrics["files"]["seed"]["n"] == 2 and metrics["files"]["seed"]["rejected"] == 0

    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == ["P00001-K2R", "P00001-Q9A", "P00002-L3P", "seed.jsonl:1", "seed.jsonl:2"]
    # MutaPLM's reference: uniprot + " " + GPT, stripped; the seed's <delta_P> placeholder is not part of it
    assert [p["reference"] for p in preds[:3]] == [
        "Loss of activity. The mutation disrupts binding.",
        "No effect on activity.",
        "Proline disrupts the helix.",
    ]
    assert preds[3]["reference"] == "Reduced stability." and preds[0]["mutations"] == ["K2R"]
    assert all(isinstance(p["prediction"], str) for p in preds)
    for name in ("muta", "seed"):  # the numbers are the metric protocol applied to what was written
        mine = [p for p in preds if p["file"] == name]
        want = score([p["prediction"] for p in mine], [p["reference"] for p in mine])
        for m in METRICS:
            assert metrics["files"][name][m] == pytest.approx(want[m], abs=1e-12)

    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["line"] for r in rejects) == [5, 6] and all(r["file"] == "muta" for r in rejects)
    assert any("W5" in r["reason"] for r in rejects)
    report = (out / "report.md").read_text()
    assert "| muta | 3 | 2 |" in report and "| seed | 2 | 0 |" in report and "P00001-K2R" in report
    assert "BLEU-2" in stdout and "\nmuta " in stdout
    card = read_card(tiny_checkpoint)["m2t"]["evaluation"]["files"]  # the metrics, in the checkpoint's model card
    assert card["muta"] == {"n": 3, **{HEADERS[m]: metrics["files"]["muta"][m] for m in METRICS}}
    assert metrics["model_card"] == str(tiny_checkpoint / "README.md") and metrics["model_card"] in stdout


def test_evaluate_defaults_to_the_synthetic_test_split(tiny_checkpoint, tmp_path):
    cfg = tiny_config(
        tmp_path, "data.synthetic.n_proteins=10", "data.synthetic.mutants_per_protein=2", "data.test_fraction=0.2"
    )
    evaluate(cfg, checkpoint=tiny_checkpoint, data=None, output=tmp_path / "evaluate")
    test = split_records(
        generate(**cfg.data.synthetic.model_dump()),
        val_fraction=cfg.data.val_fraction,
        test_fraction=0.2,
        seed=cfg.data.split_seed,
    )["test"]
    metrics = json.loads((tmp_path / "evaluate" / "metrics.json").read_text())
    assert metrics["files"]["synthetic_test"]["n"] == len(test) > 0
    ids = [json.loads(line)["id"] for line in (tmp_path / "evaluate" / "predictions.jsonl").read_text().splitlines()]
    assert ids == [r.id for r in test]


def test_missing_checkpoint_exits_2_naming_the_command(tmp_path, capsys, monkeypatch):
    code, _, stderr = run_job(root=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2
    assert f"checkpoint {tmp_path / 'finetune' / 'checkpoint'} does not exist" in stderr
    assert "m2t finetune" in stderr


def test_evaluate_on_real_mutadescribe_rows(tiny_checkpoint, tmp_path, mutadescribe_dir):
    with (mutadescribe_dir / "test_easy.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    long = next(r for r in rows[1:] if len(r[rows[0].index("protein1")]) > 1022)  # cropped, not rejected
    short = [rows[0]] + [r for r in rows[1:] if len(r[rows[0].index("protein1")]) < 150][:4] + [long]
    sample = tmp_path / "test_easy_sample.csv"
    with sample.open("w", newline="") as fh:
        csv.writer(fh).writerows(short)
    evaluate(tiny_config(tmp_path), checkpoint=tiny_checkpoint, data=[sample], output=tmp_path / "e")
    header = short[0]
    want = [
        (r[header.index("uniprot_description")] + " " + r[header.index("GPT_description")]).strip() for r in short[1:]
    ]
    preds = [json.loads(line) for line in (tmp_path / "e" / "predictions.jsonl").read_text().splitlines()]
    assert [p["reference"] for p in preds] == want
    assert (tmp_path / "e" / "rejects.jsonl").read_text() == ""
    site = int(preds[-1]["mutations"][0][1:-1])  # a substitution, 1-based, full-length coordinates
    assert [p["window_start"] for p in preds[:-1]] == [None] * 4
    assert preds[-1]["window_start"] <= site < preds[-1]["window_start"] + 1022


def test_an_untracked_checkpoint_gets_an_evaluation_run_of_its_own_and_tracking_none_writes_nothing(
    tiny_checkpoint, tmp_path, monkeypatch
):
    """(Evaluation on a trained run: tests/train/test_training.py.) The fixture checkpoint names no run."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small = ["data.synthetic.n_proteins=10", "data.synthetic.mutants_per_protein=2", "data.test_fraction=0.2"]
    metrics = evaluate(
        tiny_config(tmp_path / "on", *small), checkpoint=tiny_checkpoint, data=None, output=tmp_path / "e"
    )
    client = mlflow_client(default_uri(tmp_path / "on"))
    run = client.get_run(metrics["mlflow"]["run_id"])
    assert (run.info.status, run.info.run_name, run.data.tags["m2t.checkpoint"]) == (
        "FINISHED",
        "evaluate-finetune",  # evaluate-<the checkpoint's parent directory>
        str(tiny_checkpoint),
    )
    assert run.data.metrics == {
        f"eval/synthetic_test/{k}": v for k, v in metrics["files"]["synthetic_test"].items() if k != "path"
    }
    assert {a.path for a in client.list_artifacts(run.info.run_id, "evaluate")} == {
        "evaluate/report.md",
        "evaluate/metrics.json",
    }
    off = tiny_config(tmp_path / "off", *small, "tracking=none")
    assert evaluate(off, checkpoint=tiny_checkpoint, data=None, output=tmp_path / "off" / "e")["mlflow"] is None
    assert sorted(p.name for p in (tmp_path / "off").iterdir()) == ["e"]
