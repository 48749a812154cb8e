"""A saturation scan's predictions as a grid: the scanned positions × the 20 residues, with each cell's score and text.

Built from batch scoring's predictions of a scan (one substitution per row, e.g. ``K2R``). The wild type's own
residue at each position has score 0 by definition (:func:`m2t.infer.effect.substitution_score`); a substitution
without a score (non-standard residue) is NaN, and so is a cell no row covers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

# residues top to bottom: hydrophobic, aromatic, small/special, polar, charged
RESIDUES = "AVILMFWYCGPSTNQHDEKR"
TILE = 100  # positions per PNG tile and per HTML section
_SUB = re.compile(r"([A-Z])(\d+)([A-Z])")


@dataclass(frozen=True)
class Cell:
    """One scored substitution of the grid."""

    mutation: str
    score: float | None
    note: str | None
    description: str


@dataclass
class ScanGrid:
    """One wild type's scan: ``positions`` (1-based, ascending), the wild-type residue at each, ``scores``
    (20, n) in ``RESIDUES`` order (NaN = no score or not scanned; 0 at the wild type), the ``cells`` by
    (residue row, position column), and ``vmax``: the colour scale's half-width (the largest |score|)."""

    wild_type_id: str
    positions: list[int]
    wild: list[str]
    scores: np.ndarray
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    @property
    def vmax(self) -> float:
        finite = np.abs(self.scores[np.isfinite(self.scores)])
        return float(finite.max()) if finite.size and finite.max() > 0 else 1.0

    def tiles(self, size: int) -> list[slice]:
        """Column ranges of at most ``size`` scanned positions each."""
        return [slice(a, min(a + size, len(self.positions))) for a in range(0, len(self.positions), size)]


def scan_grids(table: pa.Table) -> list[ScanGrid]:
    """One grid per ``wild_type_id`` (in order of first appearance) of a scan's predictions table."""
    rows: dict[str, list[tuple[str, int, str, Cell]]] = {}
    for r in table.select(
        ["wild_type_id", "mutations", "description", "effect_score", "effect_score_note"]
    ).to_pylist():
        (mutation,) = r["mutations"]
        match = _SUB.fullmatch(mutation)
        if match is None:
            raise ValueError(f"scan row {r['wild_type_id']}:{mutation}: not a single substitution")
        score = r["effect_score"]
        score = None if score is None or math.isnan(score) else score
        cell = Cell(mutation, score, r["effect_score_note"], r["description"] or "")
        rows.setdefault(r["wild_type_id"], []).append((match[1], int(match[2]), match[3], cell))
    grids = []
    for wt_id, subs in rows.items():
        wild = dict(sorted({pos: first for first, pos, _, _ in subs}.items()))
        column = {pos: j for j, pos in enumerate(wild)}
        grid = ScanGrid(wt_id, list(wild), list(wild.values()), np.full((len(RESIDUES), len(wild)), np.nan))
        for j, aa in enumerate(grid.wild):
            if aa in RESIDUES:
                grid.scores[RESIDUES.index(aa), j] = 0.0  # the wild type's own residue: exactly 0
        for _, pos, alt, cell in subs:
            i, j = RESIDUES.index(alt), column[pos]
            grid.cells[i, j] = cell
            grid.scores[i, j] = np.nan if cell.score is None else cell.score
        grids.append(grid)
    return grids
