"""Descriptions of synthetic mutations: what changed and what it means, read off the sequences alone.

A substitution's text always names the wild-type residue, its position and the new residue in full
("Substitution of arginine 175 by histidine."), then the charge and size change, hydrophobicity,
a proline, glycine or cysteine gained or lost, and a position near a terminus. Indels name the
residues removed or added and the length change. So a model can only learn these texts by looking
at the proteins.
"""

from __future__ import annotations

import random

from m2t.data.amino_acids import CHARGE, HYDROPHOBIC, NAMES, VOLUME
from m2t.data.notation import Mutation

HEADS = ("Substitution of {wt} {pos} by {new}.", "{Wt} {pos} is replaced by {new}.", "Mutating {wt} {pos} to {new}.")
CHARGE_TEXT = {
    (1, 0): "This removes a positive charge.",
    (-1, 0): "This removes a negative charge.",
    (0, 1): "This introduces a positive charge.",
    (0, -1): "This introduces a negative charge.",
    (1, -1): "This reverses the charge from positive to negative.",
    (-1, 1): "This reverses the charge from negative to positive.",
}
GAINED = {
    "P": "The new proline is likely to break the local secondary structure.",
    "G": "The new glycine makes the backbone more flexible.",
    "C": "The new cysteine could form a disulfide bond.",
}
LOST = {
    "P": "Losing the proline relaxes a backbone constraint.",
    "G": "Losing the glycine makes the backbone less flexible.",
    "C": "Losing the cysteine could break a disulfide bond.",
}


def _names(residues: str) -> str:
    names = [NAMES[r] for r in residues]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _terminus(start: int, end: int, length: int) -> list[str]:
    margin = max(3, length // 10)
    if start <= margin:
        return ["The site lies near the N-terminus."]
    if end > length - margin:
        return ["The site lies near the C-terminus."]
    return []


def _substitution(m: Mutation, length: int, rng: random.Random) -> list[str]:
    wt, new = m.first, m.alt
    head = rng.choice(HEADS).format(wt=NAMES[wt], Wt=NAMES[wt].capitalize(), pos=m.start, new=NAMES[new])
    out = [head]
    if text := CHARGE_TEXT.get((CHARGE.get(wt, 0), CHARGE.get(new, 0))):
        out.append(text)
    change = VOLUME[new] - VOLUME[wt]
    if abs(change) >= 15:
        out.append(
            f"The side chain becomes {'much ' if abs(change) >= 40 else 'slightly '}"
            f"{'larger' if change > 0 else 'smaller'}."
        )
    if (wt in HYDROPHOBIC) != (new in HYDROPHOBIC):
        out.append(
            "A hydrophobic residue becomes polar." if wt in HYDROPHOBIC else "A polar residue becomes hydrophobic."
        )
    out += [LOST[wt]] if wt in LOST else []
    out += [GAINED[new]] if new in GAINED else []
    if len(out) == 1:
        out.append("The change is conservative.")
    return out + _terminus(m.start, m.end, length)


def _deletion(m: Mutation, wild_type: str, length: int) -> list[str]:
    removed = wild_type[m.start - 1 : m.end]
    head = (
        f"Deletion of {NAMES[m.first]} {m.start}."
        if m.start == m.end
        else f"Deletion of residues {m.start} to {m.end} ({_names(removed)})."
    )
    size = len(removed)
    out = [head, f"The protein becomes {size} residue{'s' if size > 1 else ''} shorter."]
    out += [LOST[r] for r in dict.fromkeys(removed) if r in LOST]
    return out + _terminus(m.start, m.end, length)


def _insertion(m: Mutation, length: int) -> list[str]:
    size = len(m.alt)
    out = [
        f"Insertion of {_names(m.alt)} between {NAMES[m.first]} {m.start} and {NAMES[m.last]} {m.end}.",
        f"The protein becomes {size} residue{'s' if size > 1 else ''} longer.",
    ]
    out += [GAINED[r] for r in dict.fromkeys(m.alt) if r in GAINED]
    return out + _terminus(m.start, m.end, length)


def describe(wild_type: str, mutations: list[Mutation], rng: random.Random) -> str:
    """The description of ``mutations`` (sorted by position) applied to ``wild_type``."""
    length, sentences = len(wild_type), []
    if len(mutations) > 1:
        sentences.append(f"This variant carries {len(mutations)} mutations.")
    for m in mutations:
        if m.kind == "sub":
            sentences += _substitution(m, length, rng)
        elif m.kind == "del":
            sentences += _deletion(m, wild_type, length)
        else:
            sentences += _insertion(m, length)
    return " ".join(sentences)
