"""The four real MutaDescribe files in ../shared: every row accepted or rejected with a reason, and each
accepted row's mutation, derived from its two sequences, equals the one its ``entry`` names."""

from __future__ import annotations

import csv

import pytest

from m2t.data.notation import derive_mutations
from m2t.data.readers import read_records

FILES = ["train_sample.csv", "val_sample.csv", "test_easy.csv", "test_medium.csv"]


def csv_rows(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("max_length", [1022, 1024])
def test_every_row_accounted_for(mutadescribe_dir, name, max_length):
    path = mutadescribe_dir / name
    rows = csv_rows(path)
    result = read_records([path], max_length=max_length, extended_alphabet=False)
    summary = result.summary()
    assert summary["total"] == summary["accepted"] + summary["rejected"] == len(rows)
    assert all(r.reason and r.kind and r.raw and r.line >= 2 for r in result.rejects)
    by_entry = {row["entry"]: row for row in rows}
    for record in result.accepted:
        accession, _, named = record.id.rpartition("-")
        assert derive_mutations(record.wild_type, record.mutant) == [named] == list(record.mutations)
        assert record.protein_id == accession
        row = by_entry[record.id]
        assert record.description == (row["uniprot_description"] + " " + row["GPT_description"]).strip()
        assert (record.wild_type, record.mutant) == (row["protein1"], row["protein2"])
    # Only over-long sequences (at 1022) and the one selenocysteine (U) wild type are refused.
    too_long = sum(max(len(r["protein1"]), len(r["protein2"])) > max_length for r in rows)
    with_u = sum("U" in r["protein1"] + r["protein2"] for r in rows)
    assert result.summary()["by_reason"].get("too_long", 0) == too_long
    assert summary["rejected"] == too_long + with_u
    assert len({r.id for r in result.accepted}) == summary["accepted"]


def test_all_four_files_together(mutadescribe_dir):
    result = read_records([mutadescribe_dir / n for n in FILES], max_length=1024, extended_alphabet=True)
    summary = result.summary()
    assert (summary["total"], summary["accepted"], summary["rejected"]) == (1044, 1044, 0)
    assert set(summary["by_source"]) == {str(mutadescribe_dir / n) for n in FILES}
