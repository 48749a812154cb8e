"""A deep mutational scan in ProteinGym's layout, read and checked for the score-only mode (:mod:`m2t.infer.dms_score`).

    scan = read_dms("BLAT_ECOLX.csv", wild_type=None, max_length=40_000, extended_alphabet=False)
    scan.wild_type, scan.variants, scan.rejects        # every row is a variant or a reject with its reason

The CSV has a header with ``mutant`` (``A42G``, several joined by ``:``; m2t's other notations work too),
``mutated_sequence`` and optionally ``DMS_score`` (the measurement; other columns are ignored). The wild type is
given (``--wild-type SEQ``, or a FASTA entry: :func:`wild_type_from_fasta`), or recovered from the rows: each row's
``mutated_sequence`` with its substitutions reverted, the one most rows agree on (rows that imply another wild type
are rejected, naming the first position where they differ). Either way every row must be the wild type with its
``mutant`` applied, or it is rejected with the reason (an unknown residue, a wild-type letter that disagrees, a
position past the end, a ``mutated_sequence`` that is not the wild type with those mutations).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from m2t.data.notation import Mutation, NotationError, apply_mutations, parse_mutations
from m2t.data.records import Reject
from m2t.data.validate import sequence_problem
from m2t.errors import InputError
from m2t.infer.scan import read_fasta

COLUMNS = ("mutant", "mutated_sequence")
SCORE = "DMS_score"


@dataclass(frozen=True)
class Variant:
    line: int  # 1-based line of the CSV (the header is line 1)
    mutant: str  # the notation as given
    mutations: tuple[Mutation, ...]
    sequence: str  # mutated_sequence
    dms_score: float | None  # None: no DMS_score column, or an empty cell


@dataclass(frozen=True)
class DmsScan:
    source: str
    wild_type: str
    wild_type_from: str  # where the wild type came from, in words
    variants: list[Variant]
    rejects: list[Reject]
    has_scores: bool  # the file has a DMS_score column


def wild_type_from_fasta(path: str | Path, entry: str | None) -> str:
    """The sequence of FASTA entry ``entry`` (None: the file's only entry)."""
    entries = {name: seq for name, seq, _ in read_fasta(path)}
    if entry is None and len(entries) != 1:
        raise InputError(f"{path} holds {len(entries)} entries ({', '.join(list(entries)[:5])}): choose one with --id")
    if entry is not None and entry not in entries:
        raise InputError(f"{path} has no entry {entry!r}; it has {', '.join(list(entries)[:10])}")
    return entries[entry] if entry is not None else next(iter(entries.values()))


def _reject(source: str, line: int, raw: str, kind: str, reason: str) -> Reject:
    return Reject(source=source, line=line, raw=raw[:500], kind=kind, reason=f"line {line}: {reason}")


def _read_rows(path: Path, *, max_length: int, extended_alphabet: bool) -> tuple[list[Variant], list[Reject], bool]:
    """Rows that parse (notation, residues, score), and the rejects of the others."""
    source, variants, rejects = str(path), [], []
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        if missing := [c for c in COLUMNS if c not in (reader.fieldnames or [])]:
            raise InputError(
                f"{path}: no {', '.join(repr(c) for c in missing)} column (ProteinGym's layout: mutant, "
                f"mutated_sequence, optional DMS_score; the header has {', '.join(reader.fieldnames or [])})"
            )
        has_scores = SCORE in reader.fieldnames
        for row in reader:
            line, raw = reader.line_num, ",".join(str(v) for v in row.values())
            mutant, seq = (row.get("mutant") or "").strip(), (row.get("mutated_sequence") or "").strip().upper()
            if not mutant or not seq:
                rejects.append(_reject(source, line, raw, "empty_field", "mutant or mutated_sequence is empty"))
                continue
            if problem := sequence_problem(
                seq, max_length=max_length, extended_alphabet=extended_alphabet, field="mutated_sequence"
            ):
                rejects.append(_reject(source, line, raw, problem[0], problem[1]))
                continue
            try:
                mutations = tuple(parse_mutations(mutant.replace(":", ";")))
            except NotationError as exc:
                rejects.append(_reject(source, line, raw, "bad_notation", str(exc)))
                continue
            text = (row.get(SCORE) or "").strip()
            try:
                score = float(text) if text else None
            except ValueError:
                score = math.nan
            if score is not None and not math.isfinite(score):
                rejects.append(_reject(source, line, raw, "bad_type", f"DMS_score {text!r} is not a finite number"))
                continue
            variants.append(Variant(line, mutant, mutations, seq, score))
    return variants, rejects, has_scores


def _implied_wild_type(variant: Variant) -> str:
    """The wild type a substitution row implies: its mutated_sequence with the substitutions reverted."""
    residues = list(variant.sequence)
    for m in variant.mutations:
        if m.kind != "sub":
            raise NotationError(f"{m} is not a substitution: give the wild type (--wild-type or --fasta) for indels")
        if m.start > len(residues) or residues[m.start - 1] != m.alt:
            found = residues[m.start - 1] if m.start <= len(residues) else "nothing (past the end)"
            raise NotationError(f"mutated_sequence has {found} at position {m.start}, {m} says {m.alt}")
        residues[m.start - 1] = m.first
    return "".join(residues)


def _recover(source: str, variants: list[Variant]) -> tuple[str, str, list[Variant], list[Reject]]:
    """The wild type most rows imply, the rows that agree, and the rejects of the others."""
    implied, rejects = {}, []
    for v in variants:
        try:
            implied[v.line] = _implied_wild_type(v)
        except NotationError as exc:
            rejects.append(_reject(source, v.line, v.mutant, "notation_mismatch", str(exc)))
    if not implied:
        raise InputError(f"{source}: no row to recover the wild type from; give it with --wild-type or --fasta")
    (wild_type, agree), *_ = Counter(implied.values()).most_common(1)
    kept = []
    for v in variants:
        if v.line not in implied:
            continue
        if (other := implied[v.line]) == wild_type:
            kept.append(v)
            continue
        where = next((i for i in range(min(len(other), len(wild_type))) if other[i] != wild_type[i]), len(wild_type))
        reason = (
            f"the wild type this row implies disagrees with the one {agree} of {len(implied)} rows imply "
            f"at position {where + 1}"
        )
        rejects.append(_reject(source, v.line, v.mutant, "notation_mismatch", reason))
    return wild_type, f"recovered from the rows ({agree} of {len(implied)} agree)", kept, rejects


def read_dms(
    path: str | Path, *, wild_type: str | None, max_length: int, extended_alphabet: bool, wild_type_from: str = ""
) -> DmsScan:
    """Every row of ``path`` as a :class:`Variant` of ``wild_type`` (None: recovered from the rows), or a reject."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"deep mutational scan file not found: {path}")
    source = str(path)
    variants, rejects, has_scores = _read_rows(path, max_length=max_length, extended_alphabet=extended_alphabet)
    if wild_type is None:
        wild_type, wild_type_from, variants, more = _recover(source, variants)
        rejects += more
    elif problem := sequence_problem(
        wild_type, max_length=max_length, extended_alphabet=extended_alphabet, field="the wild type"
    ):
        raise InputError(problem[1])
    kept = []
    for v in variants:
        try:
            applied = apply_mutations(wild_type, v.mutations)
        except NotationError as exc:
            rejects.append(_reject(source, v.line, v.mutant, "notation_mismatch", str(exc)))
            continue
        if applied != v.sequence:
            at = next((i for i in range(min(len(applied), len(v.sequence))) if applied[i] != v.sequence[i]), None)
            where = f"position {at + 1}" if at is not None else "the length"
            reason = f"mutated_sequence is not the wild type with {v.mutant} applied (they differ at {where})"
            rejects.append(_reject(source, v.line, v.mutant, "notation_mismatch", reason))
            continue
        kept.append(v)
    rejects.sort(key=lambda r: r.line)
    return DmsScan(source, wild_type, wild_type_from, kept, rejects, has_scores)
