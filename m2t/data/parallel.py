"""Validation of large inputs on Ray Data, with the same per-row function as the in-process reader.

The driver frames the files (cheap: splitting lines and CSV rows); Ray Data tasks run
:func:`m2t.data.rows.validate_row` (notation parsing, applying, deriving, alphabet checks) in
parallel; the driver puts the results back in input order, so the outcome equals the in-process one.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable

import pyarrow as pa
import ray

from m2t.data.records import Record, Reject
from m2t.data.rows import validate_row
from m2t.data.sources import RawRow

CHUNK_ROWS = 2048  # raw rows per Ray Data block sent from the driver


def _validate_batch(batch: pa.Table, *, max_length: int, extended_alphabet: bool) -> pa.Table:
    kinds, items, raws = [], [], []
    for text in batch.column("row").to_pylist():
        row = RawRow(**json.loads(text))
        item = validate_row(row, max_length=max_length, extended_alphabet=extended_alphabet)
        kinds.append("record" if isinstance(item, Record) else "reject")
        items.append(json.dumps(dataclasses.asdict(item)))
        raws.append(row.raw)
    return pa.table({"order": batch.column("order"), "kind": kinds, "item": items, "raw": raws})


def validate_on_ray(
    rows: Iterable[RawRow], *, max_length: int, extended_alphabet: bool
) -> list[tuple[str, Record | Reject]]:
    """``(raw text, validate_row(row))`` of every row, run on Ray Data tasks, in input order."""
    tables, rows = [], iter(rows)
    while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
        start = CHUNK_ROWS * len(tables)
        texts = [json.dumps(dataclasses.asdict(row), default=repr) for row in chunk]
        tables.append(pa.table({"order": range(start, start + len(texts)), "row": texts}))
    if not tables:
        return []
    done = (
        ray.data.from_arrow(tables)
        .map_batches(
            _validate_batch,
            fn_kwargs={"max_length": max_length, "extended_alphabet": extended_alphabet},
            batch_format="pyarrow",
            batch_size=512,
        )
        .take_all()
    )
    out: list[tuple[str, Record | Reject]] = []
    for row in sorted(done, key=lambda r: r["order"]):
        values = json.loads(row["item"])
        out.append(
            (
                row["raw"],
                Record(**{**values, "mutations": tuple(values["mutations"])})
                if row["kind"] == "record"
                else Reject(**values),
            )
        )
    return out
