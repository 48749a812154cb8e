"""MutaDescribe-shaped benchmark records: the file's shape is kept, every record is a valid substitution."""

from __future__ import annotations

from m2t.bench.inputs import benchmark_records, describe_inputs
from m2t.data.notation import apply_mutations


def test_full_scale_reproduces_test_medium(mutadescribe_dir):
    records = benchmark_records(wild_types=198, length_scale=1.0, source=mutadescribe_dir / "test_medium.csv")
    shape = describe_inputs(records)
    assert (shape["records"], shape["wild_types"], shape["distinct_mutants"], shape["distinct_sequences"]) == (
        384,
        198,
        305,
        322,
    )
    assert (shape["wt_length"]["min"], shape["wt_length"]["max"]) == (176, 1024)


def test_shrinking_keeps_substitutions_and_which_sequences_are_equal(mutadescribe_dir):
    source = mutadescribe_dir / "test_medium.csv"
    full = benchmark_records(wild_types=40, length_scale=1.0, source=source, seed=3)
    small = benchmark_records(wild_types=40, length_scale=0.25, source=source, seed=3)
    assert [r.id for r in small] == [r.id for r in full]
    for r, f in zip(small, full, strict=True):
        assert len(r.wild_type) == max(20, round(len(f.wild_type) * 0.25))
        assert len(r.mutations) == 1 and apply_mutations(r.wild_type, list(r.mutations)) == r.mutant
    for field in ("wild_types", "distinct_mutants", "distinct_sequences", "records"):
        assert describe_inputs(small)[field] == describe_inputs(full)[field]
    assert describe_inputs(small)["wild_types"] >= 40


def test_synthetic_stand_in_has_the_files_ratio_and_scaled_lengths(tmp_path):
    records = benchmark_records(wild_types=10, length_scale=0.25, source=tmp_path / "absent.csv")
    shape = describe_inputs(records)
    assert shape["source"] == "synthetic" and shape["records"] == 20 and shape["wild_types"] == 10
    assert 44 <= shape["wt_length"]["min"] and shape["wt_length"]["max"] <= 256
