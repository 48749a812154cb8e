"""Evaluate a checkpoint: describe every record of each data file and score it with MutaPLM's metrics.

Writes to the output directory:

    metrics.json       {"checkpoint", "generation", "files": {<name>: {bleu2, bleu4, meteor, rouge1, rouge2, rougeL, n,
                       rejected, path}}, "embeddings": {"from_store", "encoded"}, "mlflow", "model_card"} (metrics are
                       fractions in [0, 1])
    predictions.jsonl  one line per scored record: file, id, mutations, protein_name, window_start (1-based first
                       wild-type residue the encoder saw when the pair was cropped, else null), prediction, reference
    rejects.jsonl      rows that could not be scored, with the reason
    report.md          a table of the metrics (x100) and a few examples per file

adds the metrics to the checkpoint's model card (its ``README.md``, :mod:`m2t.model.card`),
and logs the metrics (``eval/<file>/<metric>``) and ``report.md`` / ``metrics.json`` to MLflow: to the run that
trained the checkpoint (at its last step) when that run is in this tracking store, else to a new evaluation run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from m2t.atomic import atomic_write_text
from m2t.config import Config
from m2t.data.crop import window_records
from m2t.data.readers import read_records
from m2t.data.records import Record, Reject, as_dict
from m2t.data.split import split_records
from m2t.data.synthetic import generate
from m2t.errors import InputError
from m2t.infer.describer import Describer, query_of
from m2t.infer.metrics import METRICS, score
from m2t.infer.report import HEADERS, render_report
from m2t.infer.tracked import evaluation_run, log_evaluation
from m2t.model.card import add_evaluation

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """One evaluated file: its display name, path, the records to score and the rows refused."""

    name: str
    path: str
    records: list[Record]
    rejects: list[Reject]


def default_data(cfg: Config) -> Path | list[Record]:
    """``outputs/data/test.parquet`` when split.py wrote one, else the synthetic test split (synthetic configs)."""
    test = cfg.stage_dir("data") / "test.parquet"
    if test.is_file():
        return test
    if not cfg.data.inputs and cfg.data.test_fraction > 0:
        log.info("no %s: evaluating on the synthetic test split (data.synthetic, data.test_fraction)", test)
        records = generate(**cfg.data.synthetic.model_dump())
        return split_records(
            records, val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed
        )["test"]
    raise InputError(
        f"no test split at {test}; make one with `m2t split --test-fraction 0.1` or pass "
        f"--data FILE (e.g. MutaDescribe's test_easy.csv)"
    )


def _names(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the file stem, the file name when stems clash, else the whole path."""
    stems, names = [p.stem for p in paths], [p.name for p in paths]
    return [
        s if stems.count(s) == 1 else (n if names.count(n) == 1 else str(p))
        for s, n, p in zip(stems, names, paths, strict=True)
    ]


def load_sets(cfg: Config, data: Sequence[Path] | None, *, describer: Describer) -> list[EvalSet]:
    """The evaluation sets: each file of ``data`` on its own, or the default test split; records the
    ``describer`` cannot take (no window of its encoder holds them) are rejects."""
    limits = {"max_length": cfg.data.max_length, "extended_alphabet": cfg.data.extended_alphabet}
    if not data:
        found = default_data(cfg)
        if isinstance(found, list):
            return [_scorable(EvalSet(name="synthetic_test", path="synthetic", records=found, rejects=[]), describer)]
        data = [found]
    paths = [Path(p) for p in data]
    sets = []
    for name, path in zip(_names(paths), paths, strict=True):
        result = read_records([path], **limits)
        found = EvalSet(name=name, path=str(path), records=result.accepted, rejects=result.rejects)
        sets.append(_scorable(found, describer))
    return sets


def _scorable(s: EvalSet, describer: Describer) -> EvalSet:
    """Records without reference text (mutation sets) become rejects: there is nothing to score against; so do
    records no window of the encoder can hold."""
    windows, unfit = window_records(
        s.records,
        max_residues=describer.max_length,
        policy=describer.long_sequences,
        encoder_id=describer.encoder.encoder_id,
    )
    s = EvalSet(name=s.name, path=s.path, records=[r for r, _ in windows], rejects=[*s.rejects, *unfit])
    keep = [r for r in s.records if r.description]
    dropped = [
        Reject(
            source=r.source,
            line=r.line,
            kind="empty_field",
            raw=f"{r.id}: {';'.join(r.mutations)}",
            reason="no reference description to score against",
        )
        for r in s.records
        if not r.description
    ]
    return EvalSet(name=s.name, path=s.path, records=keep, rejects=[*s.rejects, *dropped])


def predict(describer: Describer, records: Sequence[Record], *, desc: str) -> list[str]:
    """One description per record, in order, with a progress bar (records, rate, ETA)."""
    predictions: list[str] = []
    step = describer.generation.batch_size
    with tqdm(total=len(records), desc=desc, unit="rec") as bar:
        for start in range(0, len(records), step):
            chunk = records[start : start + step]
            predictions += describer.describe([query_of(r) for r in chunk])
            bar.update(len(chunk))
    return predictions


def _add_to_card(checkpoint: Path, *, files: dict, generation: dict) -> str | None:
    """The checkpoint's model card with these metrics added (None, and a warning, when it cannot be written)."""
    scores = {name: {"n": s["n"], **{HEADERS[m]: s[m] for m in METRICS}} for name, s in files.items()}
    try:
        return str(add_evaluation(checkpoint, files=scores, generation=generation))
    except OSError as exc:
        log.warning("could not add the metrics to the model card in %s: %s", checkpoint, exc.strerror or exc)
        return None


def evaluate(cfg: Config, *, checkpoint: str | Path, data: Sequence[Path] | None, output: str | Path) -> dict:
    """Describe and score every evaluation set; writes the files listed in the module docstring and logs them
    to MLflow; returns metrics.json."""
    describer = Describer(checkpoint=checkpoint, cfg=cfg, store=cfg.embed.store)
    tracker, trained_step = evaluation_run(cfg, Path(describer.checkpoint))
    sets = load_sets(cfg, data, describer=describer)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files, lines, rejects = {}, [], []
    for s in sets:
        predictions = predict(describer, s.records, desc=f"evaluate {s.name}")
        references = [r.description for r in s.records]
        files[s.name] = {**score(predictions, references), "rejected": len(s.rejects), "path": s.path}
        lines += [
            {
                "file": s.name,
                "id": r.id,
                "mutations": list(r.mutations),
                "protein_name": r.protein_name,
                "window_start": w.start + 1 if w.cropped else None,
                "prediction": p,
                "reference": r.description,
            }
            for r, p in zip(s.records, predictions, strict=True)
            for w in [describer.window(r.wild_type, r.mutant)]
        ]
        rejects += [{"file": s.name, **as_dict(r)} for r in s.rejects]
        log.info("%s: %s", s.name, ", ".join(f"{m} {files[s.name][m]:.4f}" for m in METRICS) + f", n {len(s.records)}")
    metrics = {
        "checkpoint": str(describer.checkpoint),
        "generation": cfg.generation.model_dump(),
        "files": files,
        "embeddings": {"from_store": describer.store_hits, "encoded": describer.encoded_sequences},
        "mlflow": asdict(tracker.ref) if tracker else None,
        "model_card": _add_to_card(describer.checkpoint, files=files, generation=cfg.generation.model_dump()),
    }
    atomic_write_text(out / "predictions.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    atomic_write_text(out / "rejects.jsonl", "".join(json.dumps(r) + "\n" for r in rejects))
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_report(metrics, lines))
    if tracker is not None:
        log_evaluation(tracker, step=trained_step, files=files, out=out)
    return metrics
