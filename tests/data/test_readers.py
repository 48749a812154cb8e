"""Readers: each input format, the <delta_P> placeholder, the summary, and input errors."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from m2t.data.readers import read_records
from m2t.data.records import read_records_file, write_records
from m2t.data.synthetic import generate
from m2t.errors import InputError

WT = "MKTAYIAKQRQISFVKSHFSRQ"  # M1 K2 T3 A4 Y5 ... R10
K2R = "MRTAYIAKQRQISFVKSHFSRQ"
LIMITS = {"max_length": 1022, "extended_alphabet": False}


def read(path, **kw):
    return read_records([path], **{**LIMITS, **kw})


def jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_seed_jsonl_strips_the_placeholder_and_derives_mutations(tmp_path):
    path = jsonl(
        tmp_path / "seed.jsonl",
        [
            {
                "wild_type_seq": WT,
                "mutation_seq": K2R,
                "text_description": "<delta_P> The mutation  <delta_P> lowers binding.",
            },
            "",
            {"wild_type_seq": WT, "mutation_seq": WT[:3] + WT[4:], "text_description": " Loses A4. "},
        ],
    )
    result = read(path)
    assert result.rejects == []
    first, second = result.accepted
    assert (first.id, first.line, first.source) == ("seed.jsonl:1", 1, str(path))
    assert first.mutations == ("K2R",) and first.mutant == K2R
    assert first.description == "The mutation lowers binding."
    assert (second.id, second.line, second.mutations, second.description) == (
        "seed.jsonl:3",
        3,
        ("A4del",),
        "Loses A4.",
    )
    assert second.protein_id is None and second.protein_name is None


def test_json_array_elements_keep_their_line(tmp_path):
    rows = [
        {"wild_type_seq": WT, "mutation_seq": K2R, "text_description": "a"},
        {"wild_type_seq": WT, "mutation_seq": WT.replace("R", "W", 1), "text_description": "b"},
    ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(rows, indent=2))
    result = read(path)
    assert [(r.line, r.mutations) for r in result.accepted] == [(2, ("K2R",)), (7, ("R10W",))]


def test_broken_json_array_keeps_what_came_before_and_rejects_the_rest(tmp_path):
    path = tmp_path / "seed.json"
    good = json.dumps({"wild_type_seq": WT, "mutation_seq": K2R, "text_description": "a"})
    path.write_text(f'[\n {good},\n {{"wild_type_seq": oops}},\n {{}}\n]')
    result = read(path)
    assert [r.line for r in result.accepted] == [2]
    (reject,) = result.rejects
    assert (reject.kind, reject.line) == ("malformed_json", 3)
    assert "the rest of the file" in reject.reason and '{"wild_type_seq": oops}' in reject.raw


def mutadescribe_csv(path, rows, index_columns=("", "Unnamed: 0.1", "Unnamed: 0")):
    header = [
        *index_columns,
        "entry",
        "protein2",
        "uniprot_description",
        "rank",
        "protein1",
        "protein_name",
        "function",
        "GPT_description",
        "all_description",
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for i, r in enumerate(rows):
        writer.writerow(
            [
                *(str(i) for _ in index_columns),
                r["entry"],
                r["protein2"],
                r["uni"],
                "0",
                r["protein1"],
                "Cellular tumor antigen p53",
                "Acts as a tumor suppressor.",
                r["gpt"],
                "stale",
            ]
        )
    path.write_text(out.getvalue())
    return path


@pytest.mark.parametrize(
    "index_columns", [("",), ("", "Unnamed: 0"), ("", "Unnamed: 0.2", "Unnamed: 0.1", "Unnamed: 0")]
)
def test_mutadescribe_csv(tmp_path, index_columns):
    path = mutadescribe_csv(
        tmp_path / "md.csv",
        [
            {
                "entry": "P04637-K2R",
                "protein1": WT,
                "protein2": K2R,
                "uni": 'Loss of DNA binding, in a\nmultiline, "quoted" note.',
                "gpt": "Destabilises.",
            },
            {
                "entry": "P04637-R10W",
                "protein1": WT,
                "protein2": WT.replace("R", "W", 1),
                "uni": "",
                "gpt": " Reduces activity. ",
            },
        ],
        index_columns,
    )
    result = read(path)
    assert result.rejects == []
    first, second = result.accepted
    assert (first.id, first.protein_id, first.mutations, first.line) == ("P04637-K2R", "P04637", ("K2R",), 2)
    assert first.description == 'Loss of DNA binding, in a\nmultiline, "quoted" note. Destabilises.'
    assert (first.protein_name, first.function) == ("Cellular tumor antigen p53", "Acts as a tumor suppressor.")
    assert second.line == 4 and second.description == "Reduces activity."  # (uni + " " + gpt).strip()


def test_mutation_set_csv_with_notation_or_mutant(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text(
        "id,wild_type_id,wild_type,mutations,mutant\n"
        f"a,P1,{WT},p.[Arg10Trp;Lys2Arg],\n"
        f"b,,{WT},,{K2R}\n"
        f"c,P1,{WT},K2_T3insGG;A4del,\n"
    )
    a, b, c = read(path).accepted
    assert (a.id, a.protein_id, a.mutations, a.description) == ("a", "P1", ("K2R", "R10W"), None)
    assert a.mutant == "MRTAYIAKQWQISFVKSHFSRQ"
    assert (b.id, b.protein_id, b.mutations, b.mutant) == ("b", None, ("K2R",), K2R)
    assert c.mutations == ("K2_T3insGG", "A4del") and c.mutant == "MKGGTYIAKQRQISFVKSHFSRQ"


def test_mutation_set_jsonl_with_a_list_of_mutations_and_both_forms(tmp_path):
    path = jsonl(
        tmp_path / "set.jsonl",
        [
            {"wild_type": WT.lower(), "mutations": ["K2R", "p.Arg10Trp"], "description": "Two changes."},
            {"wild_type": WT, "mutations": "K2R", "mutant": K2R, "id": 7},
        ],
    )
    first, second = read(path).accepted
    assert (first.id, first.wild_type, first.mutations, first.description) == (
        "set.jsonl:1",
        WT,
        ("K2R", "R10W"),
        "Two changes.",
    )
    assert (second.id, second.mutant) == ("7", K2R)


def test_mutation_set_parquet_and_our_own_records_round_trip(tmp_path):
    pq.write_table(
        pa.table({"wild_type": [WT, WT], "mutations": ["K2R", "A4del"], "wild_type_id": ["P1", None]}),
        tmp_path / "set.parquet",
    )
    result = read(tmp_path / "set.parquet")
    assert [(r.line, r.mutations, r.protein_id) for r in result.accepted] == [
        (1, ("K2R",), "P1"),
        (2, ("A4del",), None),
    ]
    records = generate(n_proteins=3, mutants_per_protein=4, min_length=20, max_length=40, seed=1)
    write_records(tmp_path / "records.parquet", records)
    assert read_records_file(tmp_path / "records.parquet") == records
    again = read(tmp_path / "records.parquet")
    assert again.rejects == []
    fields = ("id", "wild_type", "mutant", "mutations", "description", "protein_id", "protein_name", "function")
    assert [[getattr(r, f) for f in fields] for r in again.accepted] == [
        [getattr(r, f) for f in fields] for r in records
    ]


def test_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfwild_type,mutations\n" + f"{WT},K2R\n".encode())
    assert [r.mutations for r in read(path).accepted] == [("K2R",)]


def test_summary_reconciles_and_counts_by_reason_and_source(tmp_path):
    seed = jsonl(
        tmp_path / "seed.jsonl",
        [
            {"wild_type_seq": WT, "mutation_seq": K2R, "text_description": "a"},
            "{broken",
            {"wild_type_seq": WT, "mutation_seq": WT, "text_description": "b"},
        ],
    )
    sets = jsonl(
        tmp_path / "set.jsonl",
        [{"wild_type": WT, "mutations": "K2R", "id": "x"}, {"wild_type": WT, "mutations": "R10W", "id": "x"}],
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = read_records([seed, sets, empty], **LIMITS)
    summary = result.summary()
    assert (summary["total"], summary["accepted"], summary["rejected"]) == (5, 2, 3)
    assert summary["total"] == summary["accepted"] + summary["rejected"]
    assert summary["by_reason"] == {"malformed_json": 1, "identical_mutant": 1, "duplicate_id": 1}
    assert summary["by_source"] == {
        str(seed): {"total": 3, "accepted": 1, "rejected": 2},
        str(sets): {"total": 2, "accepted": 1, "rejected": 1},
        str(empty): {"total": 0, "accepted": 0, "rejected": 0},
    }


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.jsonl", None, "input file not found"),
        ("adir.jsonl", "dir", "is a directory"),
        ("data.txt", "file", "unknown format '.txt'"),
    ],
)
def test_inputs_that_cannot_be_read_raise_input_error(tmp_path, name, make, message):
    path = tmp_path / name
    if make == "dir":
        path.mkdir()
    elif make == "file":
        path.write_text("x")
    with pytest.raises(InputError, match=message):
        read(path)


def test_corrupt_parquet_is_an_input_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_records_file(tmp_path / "bad.parquet")
