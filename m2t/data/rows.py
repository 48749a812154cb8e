"""Per-row validation: one raw input row of any accepted format becomes a Record, or a Reject.

:func:`validate_row` is the single per-row function: the in-process reader and the Ray Data path
(:mod:`m2t.data.parallel`) both call it. The format is told by the row's fields: the seed's
``wild_type_seq``/``mutation_seq``/``text_description``; MutaDescribe's ``entry``/``protein1``/``protein2``;
or a mutation set's ``wild_type`` with ``mutations`` (notation) and/or ``mutant`` (a sequence).
"""

from __future__ import annotations

import math
from pathlib import Path

from m2t.data.notation import (
    NotationError,
    apply_mutations,
    derive_mutations,
    parse_mutations,
)
from m2t.data.records import Record, Reject
from m2t.data.sources import RawRow
from m2t.data.validate import RowError, clean_description, sequence_problem

FORMATS = (
    "wild_type_seq/mutation_seq/text_description (seed JSONL), entry/protein1/protein2 (MutaDescribe), "
    "or wild_type with mutations or mutant (mutation set)"
)


def _required(fields: dict, key: str) -> str:
    if fields.get(key) is None:
        raise RowError("missing_field", f"missing field '{key}'")
    return _optional(fields, key) or ""


def _optional(fields: dict, key: str) -> str | None:
    value = fields.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):  # absent, null or NaN
        return None
    if not isinstance(value, str):
        raise RowError("bad_type", f"field '{key}' must be a string, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def _sequence(fields: dict, key: str, limits: dict) -> str:
    seq = _required(fields, key).strip().upper()
    if problem := sequence_problem(seq, field=key, **limits):
        raise RowError(*problem)
    return seq


def _derive(wild_type: str, mutant: str) -> tuple[str, ...]:
    if wild_type == mutant:
        raise RowError("identical_mutant", "the mutant is identical to the wild type: there is no mutation to describe")
    try:
        return tuple(derive_mutations(wild_type, mutant))
    except NotationError as exc:
        raise RowError("notation_mismatch", str(exc)) from None


def _id(fields: dict, default: str) -> str:
    value = fields.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return (_optional(fields, "id") or "").strip() or default


def _seed(f: dict, limits: dict, default_id: str) -> dict:
    wt, mut = _sequence(f, "wild_type_seq", limits), _sequence(f, "mutation_seq", limits)
    text = _required(f, "text_description")
    description = clean_description(text)
    if not description:
        besides = " besides the <delta_P> placeholder" if text.strip() else ""
        raise RowError("empty_field", f"field 'text_description' is empty{besides}")
    return {
        "id": _id(f, default_id),
        "wild_type": wt,
        "mutant": mut,
        "mutations": _derive(wt, mut),
        "description": description,
        "protein_id": None,
        "protein_name": None,
        "function": None,
    }


def _mutadescribe(f: dict, limits: dict) -> dict:
    entry = _required(f, "entry").strip()
    accession, _, named = entry.rpartition("-")
    if not accession or not named:
        raise RowError("bad_notation", f"entry {entry!r} is not ACCESSION-MUTATION, e.g. O53666-F294A")
    wt, mut = _sequence(f, "protein1", limits), _sequence(f, "protein2", limits)
    try:
        given = parse_mutations(named)
    except NotationError as exc:
        raise RowError("bad_notation", f"entry {entry!r}: {exc}") from None
    try:
        apply_mutations(wt, given)
    except NotationError as exc:
        raise RowError("notation_mismatch", f"entry {entry!r}: {exc}") from None
    derived = _derive(wt, mut)
    if sorted(map(str, given)) != sorted(derived):
        raise RowError(
            "notation_mismatch",
            f"entry {entry!r} names {named} but protein1 and protein2 differ by {';'.join(derived)}",
        )
    for key in ("uniprot_description", "GPT_description"):
        if key not in f:
            raise RowError("missing_field", f"missing field '{key}'")
    description = clean_description(
        f"{_optional(f, 'uniprot_description') or ''} {_optional(f, 'GPT_description') or ''}"
    )
    if not description:
        raise RowError(
            "empty_field", "fields 'uniprot_description' and 'GPT_description' are both empty: no target text"
        )
    return {
        "id": entry,
        "wild_type": wt,
        "mutant": mut,
        "mutations": derived,
        "description": description,
        "protein_id": accession,
        "protein_name": _optional(f, "protein_name") or None,
        "function": _optional(f, "function") or None,
    }


def _notation(f: dict) -> list[str]:
    value = f["mutations"]
    items = value if isinstance(value, list | tuple) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise RowError("bad_type", f"field 'mutations' must be a string or a list of strings, got {str(value)[:60]!r}")
    return list(items)


def _mutation_set(f: dict, limits: dict, default_id: str) -> dict:
    wt = _sequence(f, "wild_type", limits)
    has_notation = f.get("mutations") not in (None, "", [])
    if not has_notation and f.get("mutant") in (None, ""):
        raise RowError(
            "missing_field", "missing field: a mutation set row needs 'mutations' (e.g. R175H) or 'mutant' (a sequence)"
        )
    mut = _sequence(f, "mutant", limits) if f.get("mutant") not in (None, "") else None
    if has_notation:
        try:
            parsed = [m for text in _notation(f) for m in parse_mutations(text)]
        except NotationError as exc:
            raise RowError("bad_notation", f"field 'mutations': {exc}") from None
        try:
            applied = apply_mutations(wt, parsed)
        except NotationError as exc:
            raise RowError("notation_mismatch", str(exc)) from None
        if mut is not None and applied != mut:
            raise RowError(
                "notation_mismatch", f"mutations {';'.join(map(str, parsed))} applied to wild_type do not give 'mutant'"
            )
        if problem := sequence_problem(applied, field="the mutant (wild_type with the mutations applied)", **limits):
            raise RowError(*problem)
        _derive(wt, applied)  # refuses an identical mutant
        mut, mutations = applied, tuple(str(m) for m in sorted(parsed, key=lambda m: (m.start, m.kind)))
    else:
        mutations = _derive(wt, mut)
    description = clean_description(_optional(f, "description") or "") or None
    return {
        "id": _id(f, default_id),
        "wild_type": wt,
        "mutant": mut,
        "mutations": mutations,
        "description": description,
        "protein_id": (_optional(f, "wild_type_id") or _optional(f, "protein_id") or "").strip() or None,
        "protein_name": _optional(f, "protein_name") or None,
        "function": _optional(f, "function") or None,
    }


def validate_row(row: RawRow, *, max_length: int, extended_alphabet: bool) -> Record | Reject:
    """The Record for one raw row of any accepted format, or its Reject (never raises for bad input)."""
    if row.error_kind is not None:
        return Reject(source=row.source, line=row.line, reason=row.error or "", raw=row.raw, kind=row.error_kind)
    limits = {"max_length": max_length, "extended_alphabet": extended_alphabet}
    fields, default_id = row.fields or {}, f"{Path(row.source).name}:{row.line}"
    try:
        if "wild_type_seq" in fields or "mutation_seq" in fields:
            values = _seed(fields, limits, default_id)
        elif "entry" in fields or "protein1" in fields:
            values = _mutadescribe(fields, limits)
        elif "wild_type" in fields:
            values = _mutation_set(fields, limits, default_id)
        else:
            found = ", ".join(sorted(map(str, fields))[:8]) or "none"
            raise RowError("missing_field", f"no known fields (found {found}); expected {FORMATS}")
    except RowError as exc:
        return Reject(source=row.source, line=row.line, reason=exc.reason, raw=row.raw, kind=exc.kind)
    return Record(**values, source=row.source, line=row.line)
