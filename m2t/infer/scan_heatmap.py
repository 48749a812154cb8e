"""A scan's heatmap as a PNG (matplotlib's object API, Agg; no pyplot state): positions left to right, the 20 residues top to bottom.

Colours: one symmetric scale per wild type (``grid.vmax``), red = the mutant is less likely than the wild type under
the encoder (negative score), blue = more likely, white = 0; grey = no score. A black dot marks the wild-type residue.
A tile labels every position with its wild-type residue; the overview of a long protein only ticks positions. The
title names the score's source (method and encoder); for random weights a red line says the scores mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from m2t.atomic import atomic_write
from m2t.infer.effect import EffectSource
from m2t.infer.scan_grid import RESIDUES, ScanGrid

CMAP = "RdBu"
WARNING_RED = "#c00000"  # no colour of RdBu


def colour_scale(grid: ScanGrid) -> tuple[Colormap, Normalize]:
    """The colormap (grey for NaN) and the symmetric normalisation shared by a wild type's PNGs and HTML."""
    cmap = colormaps[CMAP].with_extremes(bad="#d9d9d9")
    return cmap, Normalize(vmin=-grid.vmax, vmax=grid.vmax)


def _ticks(positions: list[int], every: int) -> list[int]:
    """Columns to label: the first, and every position divisible by ``every``."""
    return [j for j, p in enumerate(positions) if j == 0 or p % every == 0]


def titles(grid: ScanGrid, cols: slice, *, source: EffectSource, overview: bool) -> tuple[str, str | None]:
    """The axes' title (what is shown, and the score's source) and, for random weights, the warning above it."""
    positions = grid.positions[cols]
    span = f"positions {positions[0]}-{positions[-1]}" + (" (overview)" if overview else "")
    title = (
        f"{grid.wild_type_id}: {span} — dot = wild-type residue\neffect score: {source.method} ({source.encoder_id})"
    )
    return title, "RANDOM WEIGHTS: these scores are noise and mean nothing" if source.random_weights else None


def write_heatmap(grid: ScanGrid, cols: slice, path: Path, *, source: EffectSource, overview: bool) -> Path:
    """Draw columns ``cols`` of ``grid`` to ``path`` (written atomically); ``overview`` = every position of a long
    protein, without residue letters."""
    positions, wild = grid.positions[cols], grid.wild[cols]
    scores = np.ma.masked_invalid(grid.scores[:, cols])  # (20, n)
    n = len(positions)
    cmap, norm = colour_scale(grid)
    width = min(24.0, max(6.0, 2.2 + 0.16 * n)) if not overview else 18.0
    fig = Figure(figsize=(width, 4.6), dpi=110, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(scores, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    marks = [(j, RESIDUES.index(aa)) for j, aa in enumerate(wild) if aa in RESIDUES]
    if marks:
        xs, ys = zip(*marks, strict=True)
        size = 10.0 if not overview else max(0.5, 10.0 * 100 / n)
        ax.scatter(xs, ys, s=size, c="black", marker="o", linewidths=0, label="wild type")
    ax.set_yticks(range(len(RESIDUES)), list(RESIDUES), fontsize=8)
    ax.set_ylabel("mutant residue")
    every = 1 if n <= 30 else 10 if n <= 150 else 50 if n <= 600 else 100
    ticks = _ticks(positions, every)
    ax.set_xticks(ticks, [str(positions[j]) for j in ticks], fontsize=8)
    ax.set_xlabel("position (1-based, full-length wild type)")
    if not overview:
        top = ax.secondary_xaxis("top")
        top.set_xticks(range(n), wild, fontsize=7 if n > 60 else 8, family="monospace")
        top.tick_params(length=0)
    title, warning = titles(grid, cols, source=source, overview=overview)
    ax.set_title(title, fontsize=10, loc="left")
    if warning:
        fig.suptitle(warning, color=WARNING_RED, fontweight="bold")
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label(f"effect score ({source.method})\nred: less likely than wild type", fontsize=8)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
