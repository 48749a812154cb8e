"""Protein mutation notation: parse it, apply it to a wild type, derive it from two sequences.

Positions are 1-based and always refer to the wild type. Normalised (compact) forms:
substitution ``R175H``, deletion ``K20del`` / ``K20_A22del``, insertion ``G12_G13insA`` (between two
adjacent residues). Several mutations are several entries. Accepted input also includes the
separators ``;`` ``,`` ``/`` and spaces, and HGVS protein notation: ``p.Arg175His``, ``p.(Arg175His)``,
``p.[Arg175His;Gly245Ser]``, ``p.Lys20del``, ``p.Gly12_Gly13insAla``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from m2t.data.amino_acids import EXTENDED, ONE_LETTER, STANDARD

EXAMPLES = "R175H, K20del, G12_G13insA, p.Arg175His, p.Lys20del or p.Gly12_Gly13insAla"


class NotationError(ValueError):
    """Notation that cannot be read, or that does not fit the wild type; the message says which and where."""


@dataclass(frozen=True, kw_only=True)
class Mutation:
    """One edit of the wild type. ``start``/``end``: the position (sub), the deleted range (del), or the
    two flanking positions (ins, ``end == start + 1``); ``first``/``last``: the wild-type residues named there."""

    kind: Literal["sub", "del", "ins"]
    start: int
    end: int
    first: str
    last: str
    alt: str = ""

    def __str__(self) -> str:
        if self.kind == "sub":
            return f"{self.first}{self.start}{self.alt}"
        if self.kind == "del":
            if self.end == self.start:
                return f"{self.first}{self.start}del"
            return f"{self.first}{self.start}_{self.last}{self.end}del"
        return f"{self.first}{self.start}_{self.last}{self.end}ins{self.alt}"


def _patterns(aa: str) -> dict[str, re.Pattern]:
    # "del" before "sub": 'del' would read as a three-letter code.
    return {
        "del": re.compile(rf"({aa})(\d+)(?:_({aa})(\d+))?del", re.IGNORECASE),
        "ins": re.compile(rf"({aa})(\d+)_({aa})(\d+)ins((?:{aa})+)", re.IGNORECASE),
        "sub": re.compile(rf"({aa})(\d+)({aa})", re.IGNORECASE),
    }


_ONE, _THREE = _patterns("[A-Z]"), _patterns("[A-Z]{3}")
_SEPARATORS = re.compile(r"[;,/\s]+")


def _residues(codes: str, width: int, token: str) -> str:
    out = ""
    for i in range(0, len(codes), width):
        code = codes[i : i + width].upper()
        one = code if width == 1 else ONE_LETTER.get(code)
        if one is None or one not in STANDARD + EXTENDED:
            raise NotationError(f"mutation {token!r}: {codes[i : i + width]!r} is not an amino-acid code")
        out += one
    return out


def _parse_token(token: str, text: str) -> Mutation:
    body = token[2:] if token[:2].lower() == "p." else token
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    for width, patterns in ((3, _THREE), (1, _ONE)):
        for kind, pattern in patterns.items():
            if m := pattern.fullmatch(body):
                return _build(kind, m.groups(), width, token)
    where = "" if token == text.strip() else f" in {text!r}"
    raise NotationError(f"cannot read mutation {token!r}{where}: expected a form like {EXAMPLES}")


def _build(kind: str, groups: tuple, width: int, token: str) -> Mutation:
    first, start = _residues(groups[0], width, token), int(groups[1])
    if start < 1:
        raise NotationError(f"mutation {token!r}: positions are 1-based, got {start}")
    if kind == "sub":
        alt = _residues(groups[2], width, token)
        if alt == first:
            raise NotationError(f"mutation {token!r} does not change the residue")
        return Mutation(kind="sub", start=start, end=start, first=first, last=first, alt=alt)
    if kind == "del" and groups[2] is None:
        return Mutation(kind="del", start=start, end=start, first=first, last=first)
    last, end = _residues(groups[2], width, token), int(groups[3])
    if kind == "del":
        if end <= start:
            raise NotationError(f"deletion {token!r}: the range must go up, got {start} to {end}")
        return Mutation(kind="del", start=start, end=end, first=first, last=last)
    if end != start + 1:
        raise NotationError(f"insertion {token!r}: the flanking positions must be adjacent, e.g. G12_G13insA")
    return Mutation(kind="ins", start=start, end=end, first=first, last=last, alt=_residues(groups[4], width, token))


def parse_mutations(text: str) -> list[Mutation]:
    """The mutations in ``text`` (one or several, any accepted form), in the given order."""
    if not isinstance(text, str) or not text.strip():
        raise NotationError(f"no mutation given: expected a form like {EXAMPLES}")
    body = text.strip()
    if (m := re.fullmatch(r"p\.\[(.*)\]", body, re.IGNORECASE | re.DOTALL)) is not None:
        body = m.group(1).strip()
        body = body[1:-1] if body.startswith("(") and body.endswith(")") else body
    return [_parse_token(token, text) for token in _SEPARATORS.split(body) if token]


def apply_mutations(wild_type: str, mutations: Sequence[Mutation | str]) -> str:
    """The mutant: every mutation applied at once to ``wild_type`` (positions refer to the wild type)."""
    parsed = [m for item in mutations for m in (parse_mutations(item) if isinstance(item, str) else [item])]
    n = len(wild_type)
    changed: dict[int, Mutation] = {}
    inserted: dict[int, Mutation] = {}
    for mut in parsed:
        if mut.end > n:
            raise NotationError(
                f"mutation {mut} refers to position {mut.end}, past the end of the {n}-residue wild type"
            )
        for pos, residue in ((mut.start, mut.first), (mut.end, mut.last)):
            if wild_type[pos - 1] != residue:
                raise NotationError(f"mutation {mut} expects {residue} at position {pos}, found {wild_type[pos - 1]}")
        if mut.kind == "ins":
            if mut.start in inserted:
                raise NotationError(f"mutations {inserted[mut.start]} and {mut} both insert after position {mut.start}")
            inserted[mut.start] = mut
            continue
        for pos in range(mut.start, mut.end + 1):
            if pos in changed:
                raise NotationError(f"mutations {changed[pos]} and {mut} both change position {pos}")
            changed[pos] = mut
    out = []
    for pos, residue in enumerate(wild_type, start=1):
        mut = changed.get(pos)
        out.append(residue if mut is None else mut.alt if mut.kind == "sub" else "")
        out.append(inserted[pos].alt if pos in inserted else "")
    return "".join(out)


def _subs(wt: str, mut: str, offset: int) -> list[Mutation]:
    return [
        Mutation(kind="sub", start=offset + i + 1, end=offset + i + 1, first=a, last=a, alt=b)
        for i, (a, b) in enumerate(zip(wt, mut, strict=True))
        if a != b
    ]


def _describe(wt: str, mut: str, i1: int, i2: int, j1: int, j2: int) -> list[Mutation]:
    """Mutations turning ``wt[i1:i2]`` into ``mut[j1:j2]`` (0-based, half-open)."""
    n, lw, lm = len(wt), i2 - i1, j2 - j1
    if lw >= lm:  # substitutions, then a deletion of the rest
        out = _subs(wt[i1 : i1 + lm], mut[j1:j2], i1)
        if lw > lm:
            a, b = i1 + lm + 1, i2
            out.append(Mutation(kind="del", start=a, end=b, first=wt[a - 1], last=wt[b - 1]))
        return out
    k = i2 if i2 <= n - 1 else max(i1, 1)  # insert between wild-type positions k and k + 1
    if not (1 <= k <= n - 1 and i1 <= k <= i2):
        raise NotationError(
            f"cannot write the change to the {n}-residue wild type as substitutions, deletions "
            "and insertions between two residues"
        )
    left, extra = k - i1, lm - lw
    ins = Mutation(kind="ins", start=k, end=k + 1, first=wt[k - 1], last=wt[k], alt=mut[j1 + left : j1 + left + extra])
    return [*_subs(wt[i1:k], mut[j1 : j1 + left], i1), ins, *_subs(wt[k:i2], mut[j1 + left + extra : j2], k)]


def derive_mutations(wild_type: str, mutant: str) -> list[str]:
    """Normalised mutations turning ``wild_type`` into ``mutant`` (``[]`` when equal): substitutions when
    the lengths agree; otherwise indels placed as far C-terminal as possible (the HGVS 3' rule)."""
    wt, mut = wild_type, mutant
    if wt == mut:
        return []
    if not wt:
        raise NotationError("the wild type is empty: there is nothing to mutate")
    if len(wt) == len(mut):
        return [str(m) for m in _subs(wt, mut, 0)]
    n, m = len(wt), len(mut)
    p = next((i for i, (a, b) in enumerate(zip(wt, mut, strict=False)) if a != b), min(n, m))
    s = next((i for i in range(min(n, m) - p) if wt[n - 1 - i] != mut[m - 1 - i]), min(n, m) - p)
    if p + s in (n, m):
        spans = [(p, n - s, p, m - s)]
    else:
        ops = SequenceMatcher(None, wt[p : n - s], mut[p : m - s], autojunk=False).get_opcodes()
        spans = [(p + i1, p + i2, p + j1, p + j2) for tag, i1, i2, j1, j2 in ops if tag != "equal"]
    merged: list[tuple[int, int, int, int]] = []
    for i1, i2, j1, j2 in spans:
        if i1 == i2 and i1 in (0, n):  # an insertion at a terminus: take in the unchanged neighbour residue
            i1, i2, j1, j2 = (i1, i2 + 1, j1, j2 + 1) if i1 == 0 else (i1 - 1, i2, j1 - 1, j2)
        if merged and i1 <= merged[-1][1]:  # touches the previous span: describe them as one
            merged[-1] = (merged[-1][0], max(i2, merged[-1][1]), merged[-1][2], max(j2, merged[-1][3]))
        else:
            merged.append((i1, i2, j1, j2))
    return [str(x) for span in merged for x in _describe(wt, mut, *span)]
