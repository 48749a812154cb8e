"""The user turn of the chat prompt: ``<delta_P>``, the facts the config names, then the instruction.

``model.prompt_fields`` picks which facts the user turn carries (in this order, each on its own line, left
out when a record has no value for it, never written as "None"):

    <delta_P>
    Protein: Cellular tumor antigen p53
    Function: Acts as a tumor suppressor in many tumor types; ...
    Mutation: R175H (arginine to histidine at position 175)
    Nearest known mutation: Loss of DNA binding. ...
    Describe the effect of this mutation.

With no fields (the seed's framing) the user turn is ``<delta_P>`` and the instruction alone. Positions are
1-based wild-type coordinates, as in the records: a protein cropped for the encoder is still named in full-length
coordinates. ``neighbour`` is the description of the nearest known mutation of another protein
(:mod:`m2t.data.neighbours`; the index travels with the checkpoint). A value longer than ``max_words`` words
(``model.prompt_field_words``; UniProt function texts run to hundreds) is cut there and ends with "...".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from m2t.data.amino_acids import NAMES
from m2t.data.notation import Mutation, parse_mutations

Field = Literal["protein_name", "function", "mutation", "neighbour"]
FIELDS: tuple[Field, ...] = ("protein_name", "function", "mutation", "neighbour")  # the order they appear in
LABELS = {
    "protein_name": "Protein",
    "function": "Function",
    "mutation": "Mutation",
    "neighbour": "Nearest known mutation",
}


@dataclass(frozen=True, kw_only=True)
class PromptFacts:
    """What a user turn may say besides the protein vectors; empty or None = left out."""

    mutations: tuple[str, ...] = ()
    protein_name: str | None = None
    function: str | None = None
    neighbour: str | None = None


def facts_of(*, mutations=None, protein_name=None, function=None, neighbour=None) -> PromptFacts:
    """:class:`PromptFacts` from a record's or a table row's values (None, empty or NaN-free strings; mutations as
    any sequence of notation strings)."""
    return PromptFacts(
        mutations=tuple(str(m) for m in mutations) if mutations is not None else (),
        protein_name=str(protein_name) if protein_name else None,
        function=str(function) if function else None,
        neighbour=str(neighbour) if neighbour else None,
    )


def clipped(text: str, max_words: int) -> str:
    """``text`` cut to its first ``max_words`` whitespace-separated words, ending with "..." when cut (0: whole)."""
    words = text.split()
    return " ".join(words[:max_words]) + " ..." if 0 < max_words < len(words) else " ".join(words)


def _names(residues: str) -> str:
    return "-".join(NAMES[r] for r in residues)


def _words(m: Mutation) -> str:
    if m.kind == "sub":
        return f"{NAMES[m.first]} to {NAMES[m.alt]} at position {m.start}"
    if m.kind == "del":
        if m.start == m.end:
            return f"deletion of the {NAMES[m.first]} at position {m.start}"
        return f"deletion of positions {m.start} to {m.end} ({NAMES[m.first]} to {NAMES[m.last]})"
    return f"insertion of {_names(m.alt)} between positions {m.start} and {m.end}"


def mutation_text(mutations: Sequence[str]) -> str:
    """Normalised notation and words: ``R175H (arginine to histidine at position 175)``; several joined by ``; ``."""
    parsed = [m for text in mutations for m in parse_mutations(text)]
    return f"{', '.join(str(m) for m in parsed)} ({'; '.join(_words(m) for m in parsed)})"


def user_text(*, fields: Sequence[Field], instruction: str, facts: PromptFacts | None, max_words: int = 0) -> str:
    """The user turn after ``<delta_P>``: one ``Label: value`` line per configured field with a value (each cut to
    ``max_words`` words, 0 = whole), then the instruction."""
    facts = facts or PromptFacts()
    values = {
        "protein_name": clipped(facts.protein_name or "", max_words),
        "function": clipped(facts.function or "", max_words),
        "mutation": mutation_text(facts.mutations) if facts.mutations else "",
        "neighbour": clipped(facts.neighbour or "", max_words),
    }
    lines = [f"{LABELS[f]}: {values[f]}" for f in FIELDS if f in fields and values[f]]
    return "\n".join([*lines, instruction])
