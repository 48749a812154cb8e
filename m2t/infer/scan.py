"""Saturation mutagenesis input: wild types from a FASTA file, every one of the 19 substitutions at chosen positions.

    records = scan_records("wt.fasta", positions="1-50", max_length=1022, extended_alphabet=False)

Row ids are ``<fasta id>:<wt><pos><aa>`` (1-based, e.g. ``demo_wt:K2R``), so they are stable across
runs (batch scoring resumes by id). A wild type that fails validation is one reject; a position past
its end is one reject; a repeated FASTA id is one reject; everything else becomes a :class:`~m2t.data.records.Record` without text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from m2t.data.amino_acids import STANDARD
from m2t.data.readers import ReadResult
from m2t.data.records import Record, Reject
from m2t.data.validate import sequence_problem
from m2t.errors import InputError

RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def read_fasta(path: str | Path) -> Iterator[tuple[str, str, int]]:
    """``(id, sequence, header line)`` per entry; the id is the header's first word, wrapped lines are joined."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"FASTA file not found: {path}")
    name, line_no, chunks = None, 0, []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(chunks), line_no
                name, line_no, chunks = (line[1:].split() or [f"{path.name}:{i}"])[0], i, []
            elif line and name is None:
                raise InputError(f"{path}:{i}: expected a FASTA header ('>id description') before the sequence")
            elif line:
                chunks.append(line.upper().rstrip("*"))
    if name is None:
        raise InputError(f"{path}: no FASTA entries ('>id' header lines) found")
    yield name, "".join(chunks), line_no


def parse_positions(text: str) -> list[int]:
    """``"1-50"``, ``"7"`` or ``"1-10,20,30-35"`` -> sorted distinct 1-based positions."""
    out: set[int] = set()
    for part in text.replace(" ", "").split(","):
        match = RANGE.fullmatch(part)
        if match is None:
            raise InputError(f"--positions {text!r}: {part!r} is not a position or a range like 1-50")
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1 or last < first:
            raise InputError(f"--positions {text!r}: {part!r} must be 1-based with start <= end, e.g. 1-50")
        out.update(range(first, last + 1))
    return sorted(out)


def scan_records(path: str | Path, *, positions: str | None, max_length: int, extended_alphabet: bool) -> ReadResult:
    """Every single substitution at ``positions`` (all positions when None) of each wild type in ``path``."""
    wanted = parse_positions(positions) if positions else None
    records: list[Record] = []
    rejects: list[Reject] = []
    source, seen = str(path), {}
    for name, wt, line in read_fasta(path):
        if name in seen:
            rejects.append(
                Reject(
                    source=source,
                    line=line,
                    kind="duplicate_id",
                    raw=f">{name}",
                    reason=f"duplicate FASTA id {name!r} (first used at line {seen[name]})",
                )
            )
            continue
        seen[name] = line
        if problem := sequence_problem(
            wt, max_length=max_length, extended_alphabet=extended_alphabet, field=f"wild type {name}"
        ):
            rejects.append(Reject(source=source, line=line, kind=problem[0], reason=problem[1], raw=f">{name}"))
            continue
        for pos in wanted or range(1, len(wt) + 1):
            if pos > len(wt):
                rejects.append(
                    Reject(
                        source=source,
                        line=line,
                        kind="notation_mismatch",
                        raw=f">{name} position {pos}",
                        reason=f"position {pos} is past the end of {name} ({len(wt)} residues)",
                    )
                )
                continue
            here = wt[pos - 1]
            for aa in STANDARD:
                if aa != here:
                    records.append(
                        Record(
                            id=f"{name}:{here}{pos}{aa}",
                            wild_type=wt,
                            mutant=wt[: pos - 1] + aa + wt[pos:],
                            mutations=(f"{here}{pos}{aa}",),
                            description=None,
                            protein_id=name,
                            protein_name=None,
                            function=None,
                            source=source,
                            line=line,
                        )
                    )
    return ReadResult(accepted=records, rejects=rejects, sources=[source])
