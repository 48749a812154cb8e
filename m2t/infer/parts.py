"""Batch-scoring output written in parts, so an interrupted run loses at most the batches in flight.

    <out>/parts/part-<ns timestamp>-<rand>.parquet   one per scored batch, published by rename (complete or absent)
    <out>/parts/run.json                             checkpoint + decoding the parts were made with

A rerun reads the ids of the published parts and skips them; it refuses to add to parts made by
another checkpoint or decoding settings (descriptions from two models would be mixed).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from m2t.atomic import atomic_write, atomic_write_text
from m2t.errors import MismatchError

PARTS_FORMAT = 4  # the columns below; a rerun refuses to add to parts of another format (its run settings differ)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("wild_type_id", pa.string()),
        ("mutations", pa.list_(pa.string())),
        ("window_start", pa.int32()),
        ("description", pa.string()),
        ("effect_score", pa.float64()),
        ("effect_score_note", pa.string()),
        ("effect_score_source", pa.string()),  # method (encoder id), and RANDOM WEIGHTS when they are
    ]
)


class PartStore:
    """The ``parts/`` directory of one batch-scoring output."""

    def __init__(self, *, root: str | Path, run: dict) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".tmp-*"):  # left by a run killed mid-write; never published
            stale.unlink(missing_ok=True)
        meta = self.root / "run.json"
        if meta.is_file() and self.files():
            saved = json.loads(meta.read_text())
            if saved != run:
                diff = ", ".join(
                    f"{k}: {saved.get(k)!r} -> {run.get(k)!r}"
                    for k in sorted(set(saved) | set(run))
                    if saved.get(k) != run.get(k)
                )
                raise MismatchError(
                    f"{self.root.parent} holds descriptions made with other settings ({diff}); "
                    f"pass another --output, or delete {self.root} to start over"
                )
        atomic_write_text(meta, json.dumps(run, indent=2) + "\n")

    def files(self) -> list[Path]:
        """Published part files, oldest first."""
        return sorted(self.root.glob("part-*.parquet"))

    def written_ids(self) -> set[str]:
        return {i for f in self.files() for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()}

    def write(self, table: pa.Table) -> Path:
        """Publish one part atomically (temp file, then rename)."""
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        return atomic_write(self.root / name, lambda tmp: pq.write_table(table.select(SCHEMA.names).cast(SCHEMA), tmp))

    def read_all(self) -> pa.Table:
        """Every published row (first copy of an id wins)."""
        tables = [pq.read_table(f).cast(SCHEMA) for f in self.files()]
        table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
        seen, keep = set(), []
        for i, row_id in enumerate(table.column("id").to_pylist()):
            if row_id not in seen:
                seen.add(row_id)
                keep.append(i)
        return table.take(keep) if len(keep) < len(table) else table
