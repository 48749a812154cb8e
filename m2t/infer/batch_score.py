"""Offline batch scoring on Ray Data: describe every mutant of a mutation-set file or a saturation scan.

Writes to the output directory:

    predictions.parquet / predictions.jsonl   id, wild_type_id, mutations, window_start, description, effect_score,
                                              effect_score_note, effect_score_source (input order; window_start:
                                              the 1-based first wild-type residue the encoder saw when the pair was
                                              cropped, else null; effect_score: m2t.infer.effect's score, null with
                                              the reason in effect_score_note; effect_score_source: its method and
                                              encoder, "RANDOM WEIGHTS, meaningless" for a random twin; the method's
                                              text is in the Parquet schema's metadata and summary.json)
    scan_<id>.png, scan_<id>_<a>-<b>.png,     a scan's heatmaps and HTML report per wild type (m2t.infer.scan_report)
    scan_<id>.html
    rejects.jsonl                             rows refused, with the reason
    summary.json                              counts (total = scored + rejected + skipped), encoder work, timings
    parts/                                    the scored batches (what a rerun resumes from; see m2t.infer.parts)

Rows are grouped by wild type into batches of ``batch_score.batch_rows``; each scorer actor keeps
an LRU of wild-type embeddings, so with one actor every wild type is encoded once (with N actors,
at most once per actor).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from tqdm import tqdm

from m2t.atomic import atomic_write, atomic_write_text
from m2t.config import Config
from m2t.data.crop import window_records
from m2t.data.readers import ReadResult, read_records
from m2t.data.records import Record, as_dict
from m2t.embed.identity import encoder_identity
from m2t.encoders import with_runtime
from m2t.errors import InputError
from m2t.infer.describer import finetuned_checkpoint
from m2t.infer.effect import EffectSource
from m2t.infer.parts import PARTS_FORMAT, PartStore
from m2t.infer.scan import scan_records
from m2t.infer.scan_report import write_scan_report
from m2t.infer.scorer import ScorerActor
from m2t.model import trained_config
from m2t.model.checkpoint import weights_stamp
from m2t.placement import scorer_pool

log = logging.getLogger(__name__)


def wild_type_id(record: Record) -> str:
    """The id the input gave the wild type, else ``wt-`` + the first 12 hex of its sequence's sha256."""
    return record.protein_id or "wt-" + hashlib.sha256(record.wild_type.encode()).hexdigest()[:12]


def _run_settings(cfg: Config, checkpoint: Path) -> dict:
    """What the descriptions depend on; a rerun may only add to parts made with the same settings."""
    return {
        "checkpoint": str(checkpoint.resolve()),
        "checkpoint_stamp": weights_stamp(checkpoint),
        "generation": {k: v for k, v in cfg.generation.model_dump().items() if k != "batch_size"},
        "long_sequences": cfg.encoder.long_sequences,
        "parts_format": PARTS_FORMAT,
    }


def _batches(records: Sequence[Record], rows: int) -> list[pa.Table]:
    """Records sorted by wild type (stable), cut into tables of ``rows``: one Ray Data block per batch."""
    ordered = sorted(records, key=lambda r: r.wild_type)
    table = pa.table(
        {
            "id": [r.id for r in ordered],
            "wild_type_id": [wild_type_id(r) for r in ordered],
            "wild_type": [r.wild_type for r in ordered],
            "mutant": [r.mutant for r in ordered],
            "mutations": pa.array([list(r.mutations) for r in ordered], pa.list_(pa.string())),
            "protein_name": pa.array([r.protein_name for r in ordered], pa.string()),
            "function": pa.array([r.function for r in ordered], pa.string()),
        }
    )
    return [table.slice(start, rows) for start in range(0, len(table), rows)]


def check_args(*, inputs: Sequence[Path] | None, scan: Path | None, positions: str | None) -> None:
    """:class:`InputError` for a combination of inputs the job cannot run."""
    if bool(inputs) == (scan is not None):
        raise InputError("give either --input FILE ... (mutation sets) or --scan WT.fasta, not both or neither")
    if positions and scan is None:
        raise InputError("--positions only applies to --scan")


def read_input(
    cfg: Config, *, inputs: Sequence[Path] | None, scan: Path | None, positions: str | None, max_length: int
) -> ReadResult:
    """Mutation-set files through the data layer's readers, or the substitutions of a FASTA scan."""
    check_args(inputs=inputs, scan=scan, positions=positions)
    limits = {"max_length": max_length, "extended_alphabet": cfg.data.extended_alphabet}
    if scan is not None:
        return scan_records(scan, positions=positions, **limits)
    return read_records(list(inputs), **limits)


def batch_score(
    cfg: Config,
    *,
    checkpoint: str | Path,
    output: str | Path,
    inputs: Sequence[Path] | None = None,
    scan: Path | None = None,
    positions: str | None = None,
) -> dict:
    """Describe every accepted row not already in ``output``; returns (and writes) the summary."""
    started = time.perf_counter()
    checkpoint = finetuned_checkpoint(cfg, checkpoint)
    check_args(inputs=inputs, scan=scan, positions=positions)
    out = Path(output)
    parts = PartStore(root=out / "parts", run=_run_settings(cfg, checkpoint))
    trained = trained_config(checkpoint)
    options = scorer_pool(cfg)
    runtime = with_runtime(trained.encoder, cfg.encoder)
    identity = encoder_identity(runtime, num_gpus=options["num_gpus"], num_cpus=options["num_cpus"])
    read = read_input(cfg, inputs=inputs, scan=scan, positions=positions, max_length=cfg.data.max_length)
    fitting, unfit = window_records(
        read.accepted, max_residues=identity.max_length, policy=runtime.long_sequences, encoder_id=identity.encoder_id
    )
    read = ReadResult(accepted=[r for r, _ in fitting], rejects=[*read.rejects, *unfit], sources=read.sources)
    done = parts.written_ids()
    todo = [r for r in read.accepted if r.id not in done]
    atomic_write_text(out / "rejects.jsonl", "".join(json.dumps(as_dict(r)) + "\n" for r in read.rejects))
    encoded, scored = {"wild_types": 0, "mutants": 0}, 0
    if todo:
        ds = ray.data.from_arrow(_batches(todo, cfg.batch_score.batch_rows))
        ds = ds.map_batches(ScorerActor, fn_constructor_kwargs={"checkpoint": str(checkpoint), "cfg": cfg}, **options)
        with tqdm(total=len(todo), desc="batch_score", unit="row") as bar:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                parts.write(batch)
                encoded["wild_types"] += pc.sum(batch.column("encoded_wild_types")).as_py()
                encoded["mutants"] += pc.sum(batch.column("encoded_mutants")).as_py()
                scored += len(batch)
                bar.update(len(batch))
    table = parts.read_all()
    order = {r.id: i for i, r in enumerate(read.accepted)}
    rank = [order.get(i, len(order)) for i in table.column("id").to_pylist()]
    table = table.take(sorted(range(len(table)), key=rank.__getitem__))
    source = EffectSource.of(identity)
    table = table.replace_schema_metadata({f"effect_score_{k}": str(v) for k, v in source.as_dict().items()})
    atomic_write(out / "predictions.parquet", lambda p: pq.write_table(table, p))
    atomic_write_text(out / "predictions.jsonl", "".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    unscored = table.column("effect_score").null_count
    summary = {
        "inputs": [str(scan)] if scan is not None else [str(p) for p in inputs],
        "positions": positions,
        "checkpoint": str(checkpoint),
        "total": len(read.accepted) + len(read.rejects),
        "scored": scored,
        "rejected": len(read.rejects),
        "skipped": len(read.accepted) - len(todo),
        "by_reason": read.summary()["by_reason"],
        "written": len(table),
        "encoder": {
            **encoded,
            "sequences": encoded["wild_types"] + encoded["mutants"],
            "distinct_wild_types": len({r.wild_type for r in todo}),
            "distinct_mutants": len({r.mutant for r in todo}),
        },
        "effect_score": {**source.as_dict(), "scored": len(table) - unscored, "null": unscored},
        "actors": options["compute"].max_size,
        "seconds": round(time.perf_counter() - started, 2),
        "outputs": {name: str(out / name) for name in ("predictions.parquet", "predictions.jsonl", "rejects.jsonl")},
    }
    if scan is not None:
        summary["outputs"]["scan_report"] = write_scan_report(table, out, source=source)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
