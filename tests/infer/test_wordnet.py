"""Offline WordNet: Debian's files copied into an nltk_data dir, lexnames written, nltk reads it; idempotent."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import nltk
import pytest
from nltk.corpus.reader.wordnet import WordNetCorpusReader

from m2t.infer.wordnet import DEBIAN_DIR, FILES, ensure_wordnet, lexnames_text

MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")


def test_lexnames_has_45_rows_with_categories():
    rows = [line.split("\t") for line in lexnames_text().splitlines()]
    assert len(rows) == 45
    assert rows[0] == ["00", "adj.all", "3"] and rows[3] == ["03", "noun.Tops", "1"]
    assert (
        rows[29] == ["29", "verb.body", "2"]
        and rows[2] == ["02", "adv.all", "4"]
        and rows[44] == ["44", "adj.ppl", "3"]
    )


def test_lexnames_matches_the_man_page():
    if not MAN_PAGE.is_file():
        pytest.skip(f"{MAN_PAGE} not installed (Debian's wordnet-base ships it)")
    table = re.findall(r"^(\d\d)\t(\S+)", gzip.decompress(MAN_PAGE.read_bytes()).decode(), flags=re.MULTILINE)
    assert [(n, name) for n, name, _ in (r.split("\t") for r in lexnames_text().splitlines())] == table


def test_ensure_wordnet_copies_and_nltk_reads_it(tmp_path, monkeypatch):
    if not all((DEBIAN_DIR / f).is_file() for f in FILES):
        pytest.skip("Debian's WordNet files are absent (python -m m2t.infer.wordnet installs them)")
    target = ensure_wordnet(tmp_path)
    assert target == tmp_path / "corpora" / "wordnet"
    for name in FILES:
        assert not (target / name).is_symlink()
        assert (target / name).stat().st_size == (DEBIAN_DIR / name).stat().st_size
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # nltk only opens corpora under its data path
    reader = WordNetCorpusReader(str(target), None)
    assert reader.get_version() == "3.0"
    assert "quick" in {lemma.name() for s in reader.synsets("fast") for lemma in s.lemmas()}
    assert reader.synset("dog.n.01").lexname() == "noun.animal"

    stamps = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    assert ensure_wordnet(tmp_path) == target  # second run: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == stamps

    (target / "lexnames").write_text("broken\n")  # a damaged copy is repaired
    ensure_wordnet(tmp_path)
    assert (target / "lexnames").read_text() == lexnames_text()
