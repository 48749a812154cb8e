"""Framing: split an input file into raw rows with their 1-based line numbers, never raising on bad content.

A row that cannot even be framed (not UTF-8, malformed JSON or CSV) comes out with ``error_kind`` set,
so it becomes a reject like any other. Formats by extension: ``.jsonl``/``.ndjson`` (one object per
line), ``.json`` (a JSON array of objects, or one object per line), ``.csv``, ``.parquet`` (line = row).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from m2t.errors import InputError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
RAW_LIMIT = 4000  # characters of raw text kept in a reject


@dataclass(frozen=True, kw_only=True)
class RawRow:
    """One framed row: its fields, or why it could not be framed (``error_kind``, ``error``)."""

    source: str
    line: int
    raw: str
    fields: dict | None = None
    error_kind: str | None = None
    error: str | None = None


def check_input(path: Path) -> str:
    """The format of ``path``; :class:`InputError` when it is missing, a directory, unreadable or unknown."""
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input {path} is a directory; pass the data file(s) inside it")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"input {path}: unknown format {path.suffix!r}; expected one of {', '.join(FORMATS)}")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"input {path} cannot be read: {exc.strerror}") from None
    return fmt


def _printable(text: str) -> str:
    """``text`` with undecodable bytes (surrogate escapes) shown as ``\\xNN``, cut to RAW_LIMIT."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")[:RAW_LIMIT]


def _bad_bytes(text: str) -> str | None:
    bad = [f"0x{ord(c) - 0xDC00:02x}" for c in text if 0xDC80 <= ord(c) <= 0xDCFF]
    return f"non-UTF-8 bytes ({', '.join(bad[:3])}); re-encode the file as UTF-8" if bad else None


def _object(source: str, line: int, raw: str, value: object) -> RawRow:
    if not isinstance(value, dict):
        return RawRow(
            source=source,
            line=line,
            raw=_printable(raw),
            error_kind="malformed_json",
            error=f"expected a JSON object, got {type(value).__name__}",
        )
    return RawRow(source=source, line=line, raw=_printable(raw), fields=value)


def _jsonl(path: Path, source: str) -> Iterator[RawRow]:
    with path.open("rb") as fh:
        for line, data in enumerate(fh, start=1):
            raw = data.decode("utf-8", "surrogateescape").rstrip("\r\n")
            if not raw.strip():
                continue  # blank lines carry no record
            if reason := _bad_bytes(raw):
                yield RawRow(source=source, line=line, raw=_printable(raw), error_kind="not_utf8", error=reason)
                continue
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, RecursionError) as exc:
                msg = (
                    f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                )
                yield RawRow(
                    source=source,
                    line=line,
                    raw=_printable(raw),
                    error_kind="malformed_json",
                    error=f"malformed JSON: {msg}",
                )
                continue
            yield _object(source, line, raw, value)


def _json_array(path: Path, source: str) -> Iterator[RawRow]:
    """Elements of a JSON array, each with the line it starts on; a syntax error rejects the rest of the file."""
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    decoder, opening = json.JSONDecoder(), text.index("[")
    pos, line, seen = opening + 1, text.count("\n", 0, opening) + 1, opening
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        line, seen = line + text.count("\n", seen, pos), pos
        if pos >= len(text) or text[pos] == "]":
            if pos >= len(text):
                yield RawRow(
                    source=source,
                    line=line,
                    raw="",
                    error_kind="malformed_json",
                    error="malformed JSON array: the closing ']' is missing",
                )
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RawRow(
                source=source,
                line=line,
                raw=_printable(text[pos:]),
                error_kind="malformed_json",
                error=f"malformed JSON array element: {exc.msg} at line {exc.lineno} column {exc.colno}; "
                "the rest of the file (kept as raw text) was not read",
            )
            return
        raw = text[pos:end]
        if reason := _bad_bytes(raw):
            yield RawRow(source=source, line=line, raw=_printable(raw), error_kind="not_utf8", error=reason)
        else:
            yield _object(source, line, raw, value)
        pos = end


def _json(path: Path, source: str) -> Iterator[RawRow]:
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    yield from (_json_array if head.startswith(b"[") else _jsonl)(path, source)


class _Lines:
    """A line iterator for csv.reader that remembers the lines of the row being read."""

    def __init__(self, fh):
        self.fh, self.taken = fh, []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.fh)
        self.taken.append(line)
        return line


def _csv(path: Path, source: str) -> Iterator[RawRow]:
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        lines = _Lines(fh)
        reader = csv.reader(lines, strict=True)
        header, start = None, 1
        while True:
            lines.taken, start = [], start + len(lines.taken)
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRow(
                    source=source,
                    line=start,
                    raw=_printable("".join(lines.taken)),
                    error_kind="malformed_csv",
                    error=f"malformed CSV at line {start}: {exc}",
                )
                continue
            raw = "".join(lines.taken).rstrip("\r\n")
            if header is None:
                header = values
                continue
            if not any(v.strip() for v in values):
                continue  # blank lines carry no record
            if reason := _bad_bytes(raw):
                yield RawRow(source=source, line=start, raw=_printable(raw), error_kind="not_utf8", error=reason)
            elif len(values) != len(header):
                yield RawRow(
                    source=source,
                    line=start,
                    raw=_printable(raw),
                    error_kind="malformed_csv",
                    error=f"malformed CSV line: {len(values)} fields, the header has {len(header)}",
                )
            else:
                yield RawRow(
                    source=source, line=start, raw=_printable(raw), fields=dict(zip(header, values, strict=True))
                )


def _parquet(path: Path, source: str) -> Iterator[RawRow]:
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=4096)
        line = 0
        for batch in batches:
            for fields in batch.to_pylist():
                line += 1
                yield RawRow(source=source, line=line, raw=_printable(json.dumps(fields, default=str)), fields=fields)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"input {path}: not a readable Parquet file ({exc})") from None


def iter_rows(path: str | Path) -> Iterator[RawRow]:
    """Every row of one input file, in order (:class:`InputError` when the file itself cannot be used)."""
    path = Path(path)
    reader = {"jsonl": _jsonl, "json": _json, "csv": _csv, "parquet": _parquet}[check_input(path)]
    yield from reader(path, str(path))
