"""Ray Data validation gives exactly the in-process result: same records, same rejects, same order."""

from __future__ import annotations

import json

import pytest

from m2t.data.readers import read_records

pytestmark = pytest.mark.timeout(300)
WT = "MKTAYIAKQRQISFVKSHFSRQ"


def test_ray_path_equals_in_process(ray_cluster, tmp_path, mutadescribe_dir):
    rows = [
        {"wild_type": WT, "mutations": "K2R", "id": "a"},
        "{broken",
        {"wild_type": WT, "mutations": "R2H"},
        {"wild_type": WT, "mutant": WT},
        {"wild_type": WT, "mutations": "A4del", "id": "a"},
        {"wild_type_seq": WT, "mutation_seq": WT[:9] + "W" + WT[10:], "text_description": "<delta_P> W at 10."},
        {"wild_type": 5, "mutations": "K2R"},
        {"wild_type": WT + "J", "mutations": "K2R"},
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(
        b"".join((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in rows)
        + b'{"wild_type": "MK\xff"}\n'
    )
    paths = [mixed, mutadescribe_dir / "train_sample.csv", mutadescribe_dir / "val_sample.csv"]
    local = read_records(paths, max_length=1022, extended_alphabet=False)
    on_ray = read_records(paths, max_length=1022, extended_alphabet=False, use_ray=True)
    assert on_ray.accepted == local.accepted
    assert on_ray.rejects == local.rejects
    assert on_ray.summary() == local.summary()
    assert local.summary()["by_reason"] == {
        "too_long": 28,
        "malformed_json": 1,
        "notation_mismatch": 1,
        "identical_mutant": 1,
        "duplicate_id": 1,
        "bad_type": 1,
        "bad_alphabet": 2,
        "not_utf8": 1,
    }
