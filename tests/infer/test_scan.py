"""Saturation-scan input: FASTA parsing, position ranges, 19 substitutions per position, rejects."""

from __future__ import annotations

import pytest

from m2t.errors import InputError
from m2t.infer.scan import parse_positions, read_fasta, scan_records


def test_parse_positions():
    assert parse_positions("1-5") == [1, 2, 3, 4, 5]
    assert parse_positions("7") == [7]
    assert parse_positions("3-4, 1,10-11,4") == [1, 3, 4, 10, 11]
    for bad, why in (("0-3", "1-based"), ("5-2", "start <= end"), ("a-b", "not a position"), ("1-", "not a position")):
        with pytest.raises(InputError, match=why):
            parse_positions(bad)


def test_read_fasta_joins_lines_and_reports_problems(tmp_path):
    path = tmp_path / "wt.fasta"
    path.write_text(">sp|P1|X first\nmkta\nYIAK*\n\n>second\nMKV\n")
    assert list(read_fasta(path)) == [("sp|P1|X", "MKTAYIAK", 1), ("second", "MKV", 5)]
    path.write_text("MKTA\n>late\nMKV\n")
    with pytest.raises(InputError, match=r"wt.fasta:1: expected a FASTA header"):
        list(read_fasta(path))
    path.write_text("\n")
    with pytest.raises(InputError, match="no FASTA entries"):
        list(read_fasta(path))
    with pytest.raises(InputError, match="FASTA file not found"):
        list(read_fasta(tmp_path / "missing.fasta"))


def test_scan_gives_19_substitutions_per_position(tmp_path):
    path = tmp_path / "wt.fasta"
    path.write_text(">a\nMKTAYIAK\n>b\nMKV\n>a\nMKTAYIAK\n>long\n" + "A" * 30 + "\n")
    result = scan_records(path, positions="2-4", max_length=20, extended_alphabet=False)
    assert len(result.accepted) == 19 * 3 + 19 * 2  # a: 2-4; b: 2-3 (position 4 is past its end)
    by_id = {r.id: r for r in result.accepted}
    k2r = by_id["a:K2R"]
    assert (k2r.wild_type, k2r.mutant, k2r.mutations, k2r.protein_id) == ("MKTAYIAK", "MRTAYIAK", ("K2R",), "a")
    assert not any(r.mutant == r.wild_type for r in result.accepted)
    assert len({r.mutant for r in result.accepted if r.protein_id == "a"}) == 57
    kinds = sorted(r.kind for r in result.rejects)
    assert kinds == ["duplicate_id", "notation_mismatch", "too_long"]
    everything = scan_records(path, positions=None, max_length=40, extended_alphabet=False)
    assert len(everything.accepted) == 19 * (8 + 3 + 30)
