"""A corpus of hostile input files: each gives a clear InputError (exit code 2 from the jobs) or rejects
with a reason, and every row is accounted for (total = accepted + rejected)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from m2t.data.readers import read_records
from m2t.errors import InputError

WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV"
GOOD = {"wild_type_seq": WT, "mutation_seq": "M" + "R" + WT[2:], "text_description": "K2R weakens binding."}
REPO = Path(__file__).resolve().parents[2]


def read(path: Path, max_length: int = 1022):
    return read_records([path], max_length=max_length, extended_alphabet=False)


def kinds(result) -> list[str]:
    return [r.kind for r in result.rejects]


def test_truncated_jsonl_keeps_the_complete_lines_and_rejects_the_cut_one(tmp_path):
    text = "\n".join(json.dumps({**GOOD, "id": f"r{i}"}) for i in range(3))
    path = tmp_path / "cut.jsonl"
    path.write_text(text[: len(text) - 25])
    result = read(path)
    assert len(result.accepted) == 2 and kinds(result) == ["malformed_json"]
    assert result.rejects[0].line == 3 and "malformed JSON" in result.rejects[0].reason


def test_truncated_json_array_reports_the_missing_rest(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([GOOD, {**GOOD, "text_description": "another"}])[:-40])
    result = read(path)
    assert len(result.accepted) == 1 and kinds(result) == ["malformed_json"]


def test_mixed_and_invalid_encodings_reject_only_the_bad_lines(tmp_path):
    lines = [
        json.dumps({**GOOD, "text_description": "café"}).encode(),  # valid UTF-8
        json.dumps({**GOOD, "text_description": "caf\u00e9 2"}).encode().replace(b"\\u00e9", b"\xe9"),  # Latin-1
        b"\xff\xfe\x00{\x00",  # UTF-16 garbage
        json.dumps({**GOOD, "text_description": "fine"}).encode(),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = read(path)
    assert [r.line for r in result.accepted] == [1, 4]
    assert kinds(result) == ["not_utf8", "not_utf8"] and all("UTF-8" in r.reason for r in result.rejects)


def test_a_one_megabyte_line_is_rejected_with_its_raw_text_cut(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({**GOOD, "text_description": "x" * 1_000_000}) + "\n" + "y" * 1_000_000 + "\n")
    result = read(path)
    assert len(result.accepted) + len(result.rejects) == 2
    assert kinds(result)[-1] == "malformed_json"
    assert all(len(r.raw) <= 4000 for r in result.rejects)


def test_a_100k_residue_sequence_is_rejected_as_too_long(tmp_path):
    long_wt = "A" * 100_000
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"wild_type": long_wt, "mutations": "A5G"}) + "\n")
    result = read(path)
    assert result.accepted == [] and kinds(result) == ["too_long"]
    assert "100000" in result.rejects[0].reason.replace(",", "")


@pytest.mark.parametrize(
    "row",
    [
        {"wild_type_seq": None, "mutation_seq": WT, "text_description": "x"},
        {"wild_type_seq": 12345, "mutation_seq": WT, "text_description": "x"},
        {"wild_type_seq": WT, "mutation_seq": ["M", "K"], "text_description": "x"},
        {"wild_type": WT, "mutations": {"a": 1}},
        {"wild_type": WT, "mutations": "K2R", "id": {"nested": [1, 2]}},
        {"wild_type": WT + "\u0000", "mutations": "K2R"},
    ],
)
def test_nulls_and_wrong_types_are_rejects_with_reasons(tmp_path, row):
    path = tmp_path / "types.jsonl"
    path.write_text(json.dumps(row) + "\n")
    result = read(path)
    assert result.accepted == [] and len(result.rejects) == 1
    assert result.rejects[0].reason and result.rejects[0].kind


def test_deeply_nested_json_is_a_reject_not_a_crash(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"wild_type": ' + "[" * 100_000 + "]" * 100_000 + "}\n" + json.dumps({**GOOD}) + "\n")
    result = read(path)
    assert len(result.accepted) == 1 and len(result.rejects) == 1


def test_duplicate_ids_keep_the_first(tmp_path):
    path = tmp_path / "dups.jsonl"
    row = {"wild_type": WT, "mutations": "K2R", "id": "same"}
    path.write_text("\n".join(json.dumps(r) for r in (row, {**row, "mutations": "A4G"}, row)))
    result = read(path)
    assert [r.line for r in result.accepted] == [1] and kinds(result) == ["duplicate_id", "duplicate_id"]
    assert all("same" in r.reason for r in result.rejects)


def test_csv_with_shifted_columns_rejects_each_bad_row(tmp_path):
    path = tmp_path / "shifted.csv"
    path.write_text(f"wild_type,mutations,id\n{WT},K2R,a\n,{WT},K2R,b\n{WT},A4G\n")
    result = read(path)
    assert len(result.accepted) + len(result.rejects) == 3
    assert len(result.rejects) >= 1 and all(r.reason for r in result.rejects)
    assert 3 in [r.line for r in result.rejects]


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv", "empty.json"])
def test_an_empty_file_reads_as_zero_rows_or_a_clear_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    try:
        result = read(path)
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert result.summary()["total"] == 0


def test_a_directory_passed_as_a_file_is_a_usage_error_with_exit_code_2(tmp_path):
    folder = tmp_path / "data.jsonl"
    folder.mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read(folder)
    proc = subprocess.run(
        [sys.executable, "jobs/preprocess.py", "--input", str(folder), "--output", str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "is a directory" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
