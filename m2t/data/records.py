"""Records (accepted input rows), rejects (refused rows with their reason), and their Parquet form."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from m2t.atomic import atomic_write
from m2t.errors import InputError

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("wild_type", pa.string()),
        ("mutant", pa.string()),
        ("mutations", pa.list_(pa.string())),
        ("description", pa.string()),
        ("protein_id", pa.string()),
        ("protein_name", pa.string()),
        ("function", pa.string()),
        ("source", pa.string()),
        ("line", pa.int64()),
    ]
)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One wild type and its mutant, with the normalised 1-based mutations (``R175H``, ``K20del``,
    ``G12_G13insA``; one entry each) and the target text (None in mutation sets, which have no text).
    ``source``/``line``: the file and 1-based line (row for Parquet) it was read from."""

    id: str
    wild_type: str
    mutant: str
    mutations: tuple[str, ...]
    description: str | None
    protein_id: str | None
    protein_name: str | None
    function: str | None
    source: str
    line: int


@dataclass(frozen=True, kw_only=True)
class Reject:
    """An input row that was refused: where it came from, why (``kind`` is the short reason counted in
    summaries, ``reason`` the full sentence), and its raw text."""

    source: str
    line: int
    reason: str
    raw: str
    kind: str = "other"


def records_to_table(records: Sequence[Record]) -> pa.Table:
    """The Parquet table: exactly the Record fields as columns, ``mutations`` as ``list<string>``."""
    columns = {name: [getattr(r, name) for r in records] for name in SCHEMA.names}
    columns["mutations"] = [list(m) for m in columns["mutations"]]
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def table_to_records(table: pa.Table) -> list[Record]:
    """Records from a table with the Record columns (extra columns are ignored)."""
    missing = [name for name in SCHEMA.names if name not in table.column_names]
    if missing:
        raise InputError(f"not an m2t records table: missing column(s) {', '.join(missing)}")
    rows = table.select(SCHEMA.names).to_pylist()
    return [Record(**{**row, "mutations": tuple(row["mutations"] or ())}) for row in rows]


def write_records(path: str | Path, records: Sequence[Record]) -> Path:
    """Write ``records`` to a Parquet file atomically (a temporary file, then a rename)."""
    return atomic_write(path, lambda tmp: pq.write_table(records_to_table(records), tmp))


def read_records_file(path: str | Path) -> list[Record]:
    """The records of a ``records.parquet`` / split file written by :func:`write_records`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"records file not found: {path} (write it with: m2t preprocess)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    try:
        return table_to_records(table)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def as_dict(item: Record | Reject) -> dict:
    """A plain dict (``mutations`` as a list), e.g. for a JSON line."""
    out = dataclasses.asdict(item)
    if "mutations" in out:
        out["mutations"] = list(out["mutations"])
    return out
