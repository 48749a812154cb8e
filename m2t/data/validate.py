"""Validation rules: the reject kinds, the sequence checks and the target-text cleaning.

:func:`check_sequence` is shared by the readers (through :mod:`m2t.data.rows`) and the HTTP server,
so both give the same reason for the same sequence.
"""

from __future__ import annotations

import re

from m2t.data.amino_acids import EXTENDED, STANDARD, alphabet

# Every reject kind, with what it means (the summary counts rejects by kind).
REASONS = {
    "bad_alphabet": "a letter outside the amino-acid alphabet",
    "empty_sequence": "an empty sequence",
    "too_long": "a sequence over data.max_length",
    "identical_mutant": "the mutant is identical to its wild type",
    "bad_notation": "mutation notation that cannot be read",
    "notation_mismatch": "notation that does not match the sequences",
    "missing_field": "a required field is missing",
    "empty_field": "a required field is empty",
    "bad_type": "a field of the wrong type",
    "malformed_json": "a line that is not valid JSON, or not a JSON object",
    "malformed_csv": "a CSV line that cannot be parsed or has the wrong number of fields",
    "not_utf8": "bytes that are not valid UTF-8",
    "duplicate_id": "an id already used by an earlier row",
}
PLACEHOLDER = re.compile(r"\s*<delta_P>\s*")


class RowError(Exception):
    """A row is refused; ``kind`` is one of :data:`REASONS`."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def sequence_problem(
    seq: str, *, max_length: int, extended_alphabet: bool, field: str = "sequence"
) -> tuple[str, str] | None:
    """``(kind, reason)`` when ``seq`` is unusable, else None."""
    if not seq:
        return "empty_sequence", f"{field} is empty"
    allowed = alphabet(extended_alphabet=extended_alphabet)
    bad = {}
    for pos, letter in enumerate(seq, start=1):
        if letter not in allowed:
            bad.setdefault(letter, pos)
    if bad:
        shown = ", ".join(f"{letter!r} (first at position {pos})" for letter, pos in list(bad.items())[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        what = "the 20 standard amino acids or X, B, Z, U, O" if extended_alphabet else "the 20 standard amino acids"
        hint = (
            "; set data.extended_alphabet: true to also accept X, B, Z, U and O"
            if not extended_alphabet and set(bad) & set(EXTENDED)
            else ""
        )
        return "bad_alphabet", f"{field} has {shown}{more}, outside {what} ({STANDARD}){hint}"
    if len(seq) > max_length:
        return "too_long", f"{field} is {len(seq)} residues long, over the limit of {max_length} (data.max_length)"
    return None


def check_sequence(
    seq: str, *, max_length: int, extended_alphabet: bool = False, field: str = "sequence"
) -> str | None:
    """The reason ``seq`` is unusable (empty, a letter outside the alphabet, too long), or None."""
    problem = sequence_problem(seq, max_length=max_length, extended_alphabet=extended_alphabet, field=field)
    return problem[1] if problem else None


def clean_description(text: str) -> str:
    """The target text: the seed's ``<delta_P>`` protein placeholder removed (the prompt supplies it), stripped."""
    return PLACEHOLDER.sub(" ", text).strip()
