"""The embedding job's library side: records → unique missing sequences → encoder actors → store shards.

Each distinct sequence (wild types and mutants alike) is encoded once per store; sequences already in
the store are reused, so a rerun after an interruption, or with more input, encodes only what is
missing. Sequences go to Ray Data sorted by length, so each batch (one shard) carries little padding,
and the actors write their shards themselves: a killed driver loses no finished shard. A pair longer than the
encoder takes is embedded as the window around its mutation(s) (:mod:`m2t.data.crop`), keyed by the cropped residues.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import ray

from m2t.config import Config
from m2t.data.crop import window_records
from m2t.data.readers import read_records
from m2t.data.records import Record, as_dict
from m2t.embed.actor import EncoderActor
from m2t.embed.identity import encoder_identity
from m2t.embed.store import EmbeddingStore
from m2t.errors import InputError
from m2t.placement import encoder_pool
from m2t.progress import Progress
from m2t.storage import Location

log = logging.getLogger(__name__)


def load_records(cfg: Config, records_or_paths: Sequence[Record] | Sequence[str | Path]) -> tuple[list[Record], list]:
    """``(records, rejects)`` from Record objects (no rejects) or input files (through the readers)."""
    items = list(records_or_paths)
    if all(isinstance(r, Record) for r in items):
        return items, []
    result = read_records(
        [Path(p) for p in items], max_length=cfg.data.max_length, extended_alphabet=cfg.data.extended_alphabet
    )
    return list(result.accepted), list(result.rejects)


def embed_records(
    cfg: Config, records_or_paths: Sequence[Record] | Sequence[str | Path], *, store: str | Path | None = None
) -> dict:
    """Embed every distinct sequence of the records that the store lacks; returns (and writes to
    ``STORE/summary.json``) the run summary. ``store`` defaults to ``cfg.embed.store``."""
    root = Location.of(store if store is not None else cfg.embed.store)
    records, rejects = load_records(cfg, records_or_paths)
    options = encoder_pool(cfg)
    encoder_id, hidden_size, max_length, *_ = encoder_identity(
        cfg.encoder, num_gpus=options["num_gpus"], num_cpus=options["num_cpus"]
    )
    windows, too_long = window_records(
        records, max_residues=max_length, policy=cfg.encoder.long_sequences, encoder_id=encoder_id
    )
    records, rejects = [r for r, _ in windows], rejects + too_long
    cropped = sum(w.cropped for _, w in windows)
    db = EmbeddingStore.open_or_create(root, encoder_id=encoder_id, hidden_size=hidden_size, dtype=cfg.embed.dtype)
    (root / "rejects.jsonl").write_text("".join(json.dumps(as_dict(r)) + "\n" for r in rejects))
    if rejects:
        log.warning(
            "%d input rows rejected (reasons in %s); the first: %s:%s %s",
            len(rejects),
            root / "rejects.jsonl",
            rejects[0].source,
            rejects[0].line,
            rejects[0].reason,
        )
    if not records:
        where = (
            "the given records"
            if not rejects or isinstance(records_or_paths[0], Record)
            else ", ".join(map(str, records_or_paths))
        )
        raise InputError(
            f"no valid records in {where} ({len(rejects)} rejected, reasons in {root / 'rejects.jsonl'}); "
            f"nothing to embed"
        )
    sequences = [s for _, w in windows for s in (w.wild_type, w.mutant)]  # what the encoder sees: crops when cropped
    unique = list(dict.fromkeys(sequences))
    todo = sorted(db.missing(unique), key=len)  # length-sorted: each batch pads little
    log.info(
        "%d records, %d sequences, %d distinct, %d already in %s, %d to encode with %s",
        len(records),
        len(sequences),
        len(unique),
        len(unique) - len(todo),
        root,
        len(todo),
        encoder_id,
    )
    started = time.perf_counter()
    encoded = residues = written = 0
    if todo:
        shards = ray.data.from_items([{"sequence": s} for s in todo]).map_batches(
            EncoderActor,
            fn_constructor_kwargs={"encoder": cfg.encoder, "dtype": cfg.embed.dtype, "store": str(root)},
            **options,
        )
        progress = Progress(what="embed", total=len(todo), unit="seq", every_s=cfg.output.progress_every_s)
        for row in shards.iter_rows():
            encoded, residues, written = encoded + row["sequences"], residues + row["residues"], written + row["bytes"]
            log.debug("shard %s: %d sequences in %.1fs", row["shard"], row["sequences"], row["seconds"])
            rate = residues / (time.perf_counter() - started)
            if line := progress.update(encoded, residues_per_s=round(rate), last_shard=row["shard"]):
                log.info(line)
    seconds = time.perf_counter() - started
    summary = {
        "records": len(records),
        "cropped": cropped,
        "rejects": len(rejects),
        "sequences": len(sequences),
        "unique_sequences": len(unique),
        "encoded": int(encoded),
        "reused": len(unique) - len(todo),
        "residues": int(residues),
        "residues_per_s": round(residues / seconds, 1) if encoded else 0.0,
        "bytes": int(written),
        "seconds": round(seconds, 2),
        "encoder_id": encoder_id,
        "store": str(root),
        "store_counts": db.update_manifest(),
    }
    (root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
