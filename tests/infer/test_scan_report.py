"""Scan pictures from a predictions table: PNG tiles of a long protein decode, the HTML has a cell per substitution
with its escaped description and score, the wild type is marked and scores 0, one set per wild type."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
from PIL import Image

from m2t.data.amino_acids import STANDARD
from m2t.infer.effect import EffectSource
from m2t.infer.scan_grid import RESIDUES, scan_grids
from m2t.infer.scan_heatmap import titles
from m2t.infer.scan_html import cell_text
from m2t.infer.scan_report import write_scan_report

UNIREP = EffectSource("unirep-llr", "unirep:64", random_weights=False)
TWIN = EffectSource("esm-wt-marginal", "esm2:tiny:d64-l2-h4-seed0", random_weights=True)

HOSTILE = 'Loss of <script>alert("x")</script> & "binding" at {m}'


def scan_table(wild_types: dict[str, str], *, null_at: int | None = None) -> pa.Table:
    """What batch scoring writes for a scan of every position (scores drawn at random; one position unscored)."""
    rng, rows = random.Random(0), []
    for name, wt in wild_types.items():
        for pos, here in enumerate(wt, start=1):
            for aa in STANDARD:
                if aa != here:
                    m = f"{here}{pos}{aa}"
                    rows.append(
                        {
                            "id": f"{name}:{m}",
                            "wild_type_id": name,
                            "mutations": [m],
                            "window_start": None,
                            "description": HOSTILE.format(m=m),
                            "effect_score": None if pos == null_at else rng.gauss(-1.0, 1.5),
                            "effect_score_note": "no effect score: test" if pos == null_at else None,
                        }
                    )
    return pa.Table.from_pylist(rows)


class Cells(HTMLParser):
    """The scan tables' cells: (data-mutation or None, class, title, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td":
            self.cells.append({**attrs, "text": ""})
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        if self.cells and self.lasttag == "td":
            self.cells[-1]["text"] += data


def test_long_protein_gives_tiles_and_a_page_with_every_cell(tmp_path):
    wt = "".join(random.Random(1).choice(STANDARD) for _ in range(250))
    table = scan_table({"sp|P1|<b>odd</b>": wt}, null_at=7)
    report = write_scan_report(table, tmp_path, source=UNIREP)
    files = report["sp|P1|<b>odd</b>"]
    stem = "scan_sp_P1__b_odd__b_"
    assert [p.rsplit("/", 1)[1] for p in files["png"]] == [
        f"{stem}.png",
        f"{stem}_1-100.png",
        f"{stem}_101-200.png",
        f"{stem}_201-250.png",
    ]
    for path in files["png"]:
        with Image.open(path) as image:
            image.load()  # decodes the whole PNG
            assert image.format == "PNG" and image.width > 600 and image.height > 300

    page = open(files["html"], encoding="utf-8").read()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in page
    assert "sp|P1|&lt;b&gt;odd&lt;/b&gt;" in page
    assert "<code>unirep-llr</code> of the encoder <code>unirep:64</code>" in page and "RANDOM" not in page
    parser = Cells()
    parser.feed(page)
    assert parser.scripts == 1  # the page's own script only
    subs = {c["data-mutation"]: c for c in parser.cells if "data-mutation" in c}
    rows = table.to_pylist()
    assert len(subs) == len(rows) == 250 * 19
    for r in rows:
        m = r["mutations"][0]
        title = subs[m]["title"]  # unescaped by the parser: exactly what a person reads on hover
        assert title.endswith("\n" + HOSTILE.format(m=m))
        if r["effect_score"] is None:
            assert title.startswith(f"{m} · no effect score: no effect score: test")
        else:
            assert title.startswith(f"{m} · effect score {r['effect_score']:.3f}")
    marked = [c for c in parser.cells if c.get("class") == "wt"]
    assert len(marked) == 250 and all(c["text"] == "●" and "effect score 0" in c["title"] for c in marked)
    assert {c["title"].split(" ·")[0] for c in marked} == {f"{a}{p}{a}" for p, a in enumerate(wt, start=1)}
    for section in ("1-100", "101-200", "201-250"):
        assert f'id="p{section}"' in page and f'href="#p{section}"' in page


def test_grid_scores_and_one_set_per_wild_type(tmp_path):
    table = scan_table({"a": "MKTAY", "a/b": "MKV", "a_b": "MC"}, null_at=2)
    grids = {g.wild_type_id: g for g in scan_grids(table)}
    a = grids["a"]
    assert a.positions == [1, 2, 3, 4, 5] and "".join(a.wild) == "MKTAY"
    for j, aa in enumerate(a.wild):
        assert a.scores[RESIDUES.index(aa), j] == 0.0  # the wild type's own residue: exactly 0
    assert np.isnan(a.scores[:, 1]).sum() == 19  # position 2 has no scores: NaN, drawn grey
    row = next(r for r in table.to_pylist() if r["id"] == "a:K2R")
    assert (
        cell_text(a.cells[RESIDUES.index("R"), 1])
        == f"K2R · no effect score: no effect score: test\n{row['description']}"
    )
    report = write_scan_report(table, tmp_path, source=UNIREP)
    names = {k: (v["html"].rsplit("/", 1)[1], len(v["png"])) for k, v in report.items()}
    # "a/b" and "a_b" both clean to scan_a_b: the second gets a number
    assert names == {"a": ("scan_a.html", 1), "a/b": ("scan_a_b.html", 1), "a_b": ("scan_a_b-2.html", 1)}


def red_pixels(path: str) -> int:
    """Pixels of the warning's red (#c00000), which the RdBu colour scale never uses."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
    return int((np.abs(rgb.astype(int) - [192, 0, 0]).sum(axis=1) < 30).sum())


def test_every_picture_names_the_score_source_and_random_weights_say_so(tmp_path):
    """The heatmap's title and the page name the method and the encoder; a random twin's add a loud warning."""
    table = scan_table({"wt": "MKTAYIAKQR"})
    (grid,) = scan_grids(table)
    assert titles(grid, slice(0, 10), source=UNIREP, overview=False) == (
        "wt: positions 1-10 — dot = wild-type residue\neffect score: unirep-llr (unirep:64)",
        None,
    )
    title, warning = titles(grid, slice(0, 10), source=TWIN, overview=False)
    assert title.endswith("effect score: esm-wt-marginal (esm2:tiny:d64-l2-h4-seed0)")
    assert warning == "RANDOM WEIGHTS: these scores are noise and mean nothing"
    (tmp_path / "real").mkdir(), (tmp_path / "twin").mkdir()
    real = write_scan_report(table, tmp_path / "real", source=UNIREP)["wt"]
    twin = write_scan_report(table, tmp_path / "twin", source=TWIN)["wt"]
    assert red_pixels(real["png"][0]) == 0 and red_pixels(twin["png"][0]) > 200  # the warning, drawn in red
    page = open(twin["html"], encoding="utf-8").read()
    assert '<p class="random">RANDOM WEIGHTS: esm2:tiny:d64-l2-h4-seed0 is a seeded random twin' in page
