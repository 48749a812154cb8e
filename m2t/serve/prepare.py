"""Check one request item and turn it into a :class:`Job`: the mutant sequence, normalised notation, decoding settings.

Reasons come from the data layer (``check_sequence`` and the notation functions) so the server
says exactly what preprocessing would say. Every problem of an item is reported at once, each
with its location in FastAPI's error shape: ``{"loc": ["body", "items", 3, "mutations"], "msg": ..., "type": ...}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from m2t.data.crop import CropError, LongSequences, Window, encoder_window
from m2t.data.notation import (
    Mutation,
    NotationError,
    apply_mutations,
    derive_mutations,
    parse_mutations,
)
from m2t.data.validate import check_sequence
from m2t.serve.contract import SEQUENCE_SPACE
from m2t.serve.schemas import DescribeRequest, FieldError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Limits:
    """Plain values the checks need (from ``data``, ``encoder`` and ``serve`` of the config, and the encoder's window)."""

    max_length: int
    extended_alphabet: bool
    max_new_tokens_limit: int
    max_residues: int  # the encoder's window: longer pairs are cropped around the mutation (long_sequences)
    long_sequences: LongSequences


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    temperature: float
    top_p: float


@dataclass(frozen=True)
class Job:
    """A checked item waiting for a batch; ``arrived`` is ``time.perf_counter()`` at preparation."""

    id: str | None
    wild_type: str
    mutant: str
    mutations: tuple[str, ...]
    window: Window
    decoding: Decoding
    protein_name: str | None = None
    function: str | None = None
    arrived: float = field(default_factory=time.perf_counter)


def _clean(sequence: str) -> str:
    """Spaces, tabs and line breaks dropped, ASCII letters upper-cased (as the OpenAPI's pattern says): other
    characters stay, for the checks to name."""
    kept = sequence.translate({ord(c): None for c in SEQUENCE_SPACE})
    return "".join(c.upper() if c.isascii() else c for c in kept)


def prepare(request: DescribeRequest, *, loc: Loc, limits: Limits, defaults: Decoding) -> Job:
    """The :class:`Job` for one request item, or :class:`FieldError` naming every bad field."""
    errors: list[dict[str, Any]] = []

    def bad(where: str | tuple[str | int, ...], msg: str, value: Any) -> None:
        errors.extend(FieldError.one((*loc, *((where,) if isinstance(where, str) else where)), msg, value).errors)

    def reason(seq: str, name: str) -> str | None:
        return check_sequence(seq, max_length=limits.max_length, extended_alphabet=limits.extended_alphabet, field=name)

    wild_type = _clean(request.wild_type)
    if wt_reason := reason(wild_type, "wild_type"):
        bad("wild_type", wt_reason, request.wild_type)
    mutant, mutations = "", ()
    if request.mutant is not None:
        mutant = _clean(request.mutant)
        if mut_reason := reason(mutant, "mutant"):
            bad("mutant", mut_reason, request.mutant)
        elif not wt_reason:
            try:
                mutations = tuple(derive_mutations(wild_type, mutant))
            except NotationError as exc:
                bad("mutant", str(exc), request.mutant)
            else:
                if not mutations:
                    bad("mutant", "is identical to wild_type: there is no mutation to describe", request.mutant)
    elif not wt_reason:
        parsed = _parse(request.mutations, bad)
        mutations = tuple(str(m) for m in parsed)
        if parsed:
            try:
                mutant = apply_mutations(wild_type, parsed)
            except NotationError as exc:
                bad("mutations", str(exc), request.mutations)
            else:
                if mut_reason := reason(mutant, "mutant"):
                    bad("mutations", f"the resulting mutant is invalid: {mut_reason}", request.mutations)
    if request.max_new_tokens is not None and request.max_new_tokens > limits.max_new_tokens_limit:
        bad(
            "max_new_tokens",
            f"{request.max_new_tokens} is over this server's limit of {limits.max_new_tokens_limit} "
            "(serve.max_new_tokens_limit)",
            request.max_new_tokens,
        )
    window = None
    if not errors:
        try:
            window = encoder_window(wild_type, mutant, max_residues=limits.max_residues, policy=limits.long_sequences)
        except CropError as exc:
            bad("mutant" if request.mutant is not None else "mutations", str(exc), request.mutant or request.mutations)
    if errors:
        raise FieldError(errors)
    decoding = Decoding(
        max_new_tokens=request.max_new_tokens if request.max_new_tokens is not None else defaults.max_new_tokens,
        temperature=request.temperature if request.temperature is not None else defaults.temperature,
        top_p=request.top_p if request.top_p is not None else defaults.top_p,
    )
    return Job(
        id=request.id,
        wild_type=wild_type,
        mutant=mutant,
        mutations=mutations,
        window=window,
        decoding=decoding,
        protein_name=request.protein_name,
        function=request.function,
    )


def _parse(given: str | list[str] | None, bad: Any) -> list[Mutation]:
    """The parsed notation (a string, or a list of strings each reported at its index); [] after ``bad``."""
    texts = [given] if isinstance(given, str) else list(given or [])
    if not texts:
        bad("mutations", "is empty: give at least one mutation, e.g. 'R175H'", given)
    parsed, failed = [], False
    for i, text in enumerate(texts):
        try:
            parsed.extend(parse_mutations(text))
        except NotationError as exc:
            bad("mutations" if isinstance(given, str) else ("mutations", i), str(exc), text)
            failed = True
    return [] if failed else parsed
