"""A scan's HTML report: one static page per wild type (inline CSS and JavaScript, nothing fetched).

A section per tile of positions holds a table: a column per position (its number and wild-type residue), a row per
residue, each cell coloured as in the PNG. Hovering a cell shows its mutation, score and description (the cell's
``title``); clicking pins the same text in the panel at the bottom. The wild-type residue's cell shows a dot and
scores 0. Every text from the data (ids, descriptions, notes) is HTML-escaped; the script only copies ``title``
text into the panel as text.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from matplotlib.colors import to_hex

from m2t.atomic import atomic_write_text
from m2t.infer.effect import EffectSource
from m2t.infer.scan_grid import RESIDUES, Cell, ScanGrid
from m2t.infer.scan_heatmap import colour_scale

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table.scan { border-collapse: collapse; margin: 0.5em 0 2em; }
table.scan td, table.scan th { width: 13px; min-width: 13px; height: 13px; padding: 0; font-size: 9px;
  text-align: center; border: 1px solid #fff; }
table.scan thead th { vertical-align: bottom; font-family: monospace; line-height: 1.1; }
table.scan thead th span { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 8px; }
table.scan tbody th { font-family: monospace; font-size: 11px; padding-right: 4px; }
table.scan td { cursor: pointer; }
table.scan td.wt { color: #000; font-size: 11px; }
table.scan td:hover { outline: 2px solid #000; }
#pin { position: sticky; bottom: 0; background: #fffbe6; border: 1px solid #d9c27a; padding: 0.6em 0.8em;
  white-space: pre-wrap; max-height: 8em; overflow: auto; }
.legend span { display: inline-block; width: 2.2em; height: 1em; vertical-align: middle; }
.random { color: #fff; background: #c00000; padding: 0.6em 0.8em; font-weight: bold; }
"""
SCRIPT = """
document.addEventListener('click', function (event) {
  var cell = event.target.closest('table.scan td[title]');
  if (cell) { document.getElementById('pin').textContent = cell.getAttribute('title'); }
});
"""


def cell_text(cell: Cell) -> str:
    """What hovering (``title``) and clicking show of a scored substitution."""
    score = f"effect score {cell.score:.3f}" if cell.score is not None else f"no effect score: {cell.note}"
    return f"{cell.mutation} · {score}\n{cell.description}"


def _legend(grid: ScanGrid) -> str:
    cmap, norm = colour_scale(grid)
    steps = [-grid.vmax + 2 * grid.vmax * k / 6 for k in range(7)]
    swatches = "".join(f'<span style="background:{to_hex(cmap(norm(v)))}" title="{v:+.2f}"></span>' for v in steps)
    return f'<p class="legend">{-grid.vmax:+.2f} {swatches} {grid.vmax:+.2f} &nbsp; grey: no score</p>'


def _table(grid: ScanGrid, cols: slice) -> str:
    cmap, norm = colour_scale(grid)
    head = "".join(
        f'<th title="position {p}, wild type {escape(aa)}"><span>{p}</span><br>{escape(aa)}</th>'
        for p, aa in zip(grid.positions[cols], grid.wild[cols], strict=True)
    )
    body = []
    for i, residue in enumerate(RESIDUES):
        cells = []
        for j in range(cols.start, cols.stop):
            p, aa = grid.positions[j], grid.wild[j]
            if aa == residue:
                title = f"{aa}{p}{aa} · wild-type residue (effect score 0)"
                cells.append(f'<td class="wt" title="{escape(title)}">●</td>')
            elif (cell := grid.cells.get((i, j))) is None:
                cells.append('<td class="none"></td>')
            else:
                colour = to_hex(cmap(norm(cell.score if cell.score is not None else float("nan"))))
                cells.append(
                    f'<td style="background:{colour}" data-mutation="{escape(cell.mutation)}" '
                    f'title="{escape(cell_text(cell))}"></td>'
                )
        body.append(f"<tr><th>{residue}</th>{''.join(cells)}</tr>")
    return f'<table class="scan"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def write_html(grid: ScanGrid, tiles: list[slice], path: Path, *, source: EffectSource, images: list[str]) -> Path:
    """The page of one wild type at ``path`` (written atomically); ``images``: its PNG file names, linked."""
    name = escape(grid.wild_type_id)
    spans = [(grid.positions[c.start], grid.positions[c.stop - 1]) for c in tiles]
    nav = " · ".join(f'<a href="#p{a}-{b}">{a}-{b}</a>' for a, b in spans)
    pngs = " · ".join(f'<a href="{escape(i)}">{escape(i)}</a>' for i in images)
    sections = "".join(
        f'<section id="p{a}-{b}"><h2>Positions {a}-{b}</h2>{_table(grid, cols)}</section>'
        for (a, b), cols in zip(spans, tiles, strict=True)
    )
    scored = sum(c.score is not None for c in grid.cells.values())
    warning = f'<p class="random">{escape(source.warning)}</p>' if source.warning else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Saturation scan of {name}</title>
<style>{STYLE}</style></head><body>
<h1>Saturation scan of {name}</h1>
{warning}
<p>{len(grid.positions)} positions, {len(grid.cells)} substitutions ({scored} with an effect score).
Effect score <code>{escape(source.method)}</code> of the encoder <code>{escape(source.encoder_id)}</code>:
{escape(source.about)}.
Red: the mutant residue is less likely than the wild type's; blue: more likely; ● the wild-type residue.
Hover a cell for its description; click to pin it below.</p>
{_legend(grid)}
<p>Heatmaps: {pngs}</p>
<p>Positions: {nav}</p>
{sections}
<div id="pin">Click a cell to pin its description here.</div>
<script>{SCRIPT}</script>
</body></html>
"""
    return atomic_write_text(path, page)
