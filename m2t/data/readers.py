"""Read input files into Records; every row ends up accepted or rejected with a reason, never dropped.

Formats (by extension; the schema by each row's fields):
- the seed's JSONL (``wild_type_seq``, ``mutation_seq``, ``text_description``), or a JSON array of such objects;
- MutaDescribe CSV (``entry`` = ``ACCESSION-R175H``, ``protein1``, ``protein2``, ``uniprot_description``,
  ``GPT_description``, ``function``, ``protein_name``; stale index columns are ignored);
- mutation sets in CSV, JSONL or Parquet: ``wild_type`` plus ``mutations`` (notation) or ``mutant``
  (a sequence), optional ``id``, ``wild_type_id``, ``description``; our own ``records.parquet`` is one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from m2t.data.records import Record, Reject
from m2t.data.rows import validate_row
from m2t.data.sources import check_input, iter_rows

__all__ = ["ReadResult", "Reject", "format_summary", "read_records", "settle"]


@dataclass(frozen=True, kw_only=True)
class ReadResult:
    """Accepted records and rejects, in input order; ``sources``: the inputs read (also those with no rows)."""

    accepted: list[Record]
    rejects: list[Reject]
    sources: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """``total``, ``accepted``, ``rejected``, ``by_reason`` (reject kind → count) and ``by_source``."""
        by_source = {s: {"total": 0, "accepted": 0, "rejected": 0} for s in self.sources}
        for items, key in ((self.accepted, "accepted"), (self.rejects, "rejected")):
            for item in items:
                counts = by_source.setdefault(item.source, {"total": 0, "accepted": 0, "rejected": 0})
                counts["total"] += 1
                counts[key] += 1
        by_reason = dict(Counter(r.kind for r in self.rejects).most_common())
        return {
            "total": len(self.accepted) + len(self.rejects),
            "accepted": len(self.accepted),
            "rejected": len(self.rejects),
            "by_reason": by_reason,
            "by_source": by_source,
        }


def settle(results: Iterable[tuple[str, Record | Reject]], *, sources: Sequence[str] = ()) -> ReadResult:
    """Split ``(raw text, validated row)`` pairs into accepted and rejects; a repeated id is rejected
    (the first one wins)."""
    accepted, rejects, first = [], [], {}
    for raw, item in results:
        if isinstance(item, Reject):
            rejects.append(item)
        elif item.id in first:
            rejects.append(
                Reject(
                    source=item.source,
                    line=item.line,
                    kind="duplicate_id",
                    raw=raw,
                    reason=f"duplicate id {item.id!r} (first used at {first[item.id]})",
                )
            )
        else:
            first[item.id] = f"{item.source}:{item.line}"
            accepted.append(item)
    return ReadResult(accepted=accepted, rejects=rejects, sources=list(sources))


def read_records(
    paths: Sequence[str | Path], *, max_length: int, extended_alphabet: bool, use_ray: bool = False
) -> ReadResult:
    """Read and validate every row of ``paths``. ``use_ray`` validates on Ray Data (large inputs);
    the result is the same. :class:`m2t.errors.InputError` when a file is missing or of an unknown type."""
    paths = [Path(p) for p in paths]
    for path in paths:  # fail before reading anything
        check_input(path)
    rows = (row for path in paths for row in iter_rows(path))
    if use_ray:
        from m2t.data.parallel import validate_on_ray

        results = validate_on_ray(rows, max_length=max_length, extended_alphabet=extended_alphabet)
    else:
        results = (
            (row.raw, validate_row(row, max_length=max_length, extended_alphabet=extended_alphabet)) for row in rows
        )
    return settle(results, sources=[str(p) for p in paths])


def format_summary(summary: dict) -> str:
    """One line: ``384 rows from 1 input(s): 380 accepted, 4 rejected (too_long 4)``."""
    reasons = ", ".join(f"{kind} {n}" for kind, n in summary["by_reason"].items())
    return (
        f"{summary['total']} rows from {len(summary['by_source'])} input(s): {summary['accepted']} accepted, "
        f"{summary['rejected']} rejected" + (f" ({reasons})" if reasons else "")
    )
