"""What a saturation scan looks like: per wild type, a heatmap of effect scores (PNG) and a clickable HTML report.

    report = write_scan_report(predictions_table, out_dir, source=source)   # {"wt_a": {"png": [...], "html": "..."}}

Built from batch scoring's predictions of a scan (:mod:`m2t.infer.scan_grid`): the scanned positions × the 20
residues, coloured by ``effect_score`` on one symmetric scale per wild type (red: less likely
than the wild type under the encoder, blue: more likely, white: 0); the wild type's own residue is marked (its score
is 0 by definition). Long proteins come in tiles of ``tile`` positions: ``scan_<id>_<first>-<last>.png`` each, plus
an overview ``scan_<id>.png`` of every position (a protein of at most ``tile`` positions has just the latter), and
one HTML page ``scan_<id>.html`` with a section per tile (:mod:`m2t.infer.scan_html`). Both name the score's
``source`` (method and encoder) and, for an encoder with random weights, say in red that the scores mean nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from m2t.infer.effect import EffectSource
from m2t.infer.scan_grid import TILE, scan_grids
from m2t.infer.scan_heatmap import write_heatmap
from m2t.infer.scan_html import write_html


def file_stem(wild_type_id: str, taken: set[str]) -> str:
    """``scan_<id>`` with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``; a numbered suffix
    when two ids map to the same name."""
    stem = "scan_" + re.sub(r"[^A-Za-z0-9._-]", "_", wild_type_id)[:80]
    unique, n = stem, 2
    while unique in taken:
        unique, n = f"{stem}-{n}", n + 1
    taken.add(unique)
    return unique


def write_scan_report(
    table: pa.Table, out_dir: str | Path, *, source: EffectSource, tile: int = TILE
) -> dict[str, dict]:
    """Heatmap PNG(s) and the HTML page of every wild type in a scan's predictions; returns their paths by id."""
    out, taken, report = Path(out_dir), set(), {}
    for grid in scan_grids(table):
        stem = file_stem(grid.wild_type_id, taken)
        tiles = grid.tiles(tile)
        pngs = [
            write_heatmap(
                grid, slice(0, len(grid.positions)), out / f"{stem}.png", source=source, overview=len(tiles) > 1
            )
        ]
        if len(tiles) > 1:
            for cols in tiles:
                first, last = grid.positions[cols.start], grid.positions[cols.stop - 1]
                pngs.append(
                    write_heatmap(grid, cols, out / f"{stem}_{first}-{last}.png", source=source, overview=False)
                )
        html = write_html(grid, tiles, out / f"{stem}.html", source=source, images=[p.name for p in pngs])
        report[grid.wild_type_id] = {"png": [str(p) for p in pngs], "html": str(html)}
    return report
