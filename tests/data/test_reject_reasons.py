"""Every reject reason: the row is refused with its kind, a reason naming the problem, its line and raw text,
while the good row beside it is accepted; nothing is dropped and nothing raises."""

from __future__ import annotations

import json

import pytest

from m2t.data.readers import read_records
from m2t.data.validate import REASONS, check_sequence

WT = "MKTAYIAKQRQISFVKSHFSRQ"
K2R = "MRTAYIAKQRQISFVKSHFSRQ"
GOOD_SEED = {"wild_type_seq": WT, "mutation_seq": K2R, "text_description": "ok"}
GOOD_SET = {"wild_type": WT, "mutations": "K2R", "id": "good"}
HEADER = "entry,protein1,protein2,uniprot_description,GPT_description\n"


def seed(**change):
    return json.dumps({**GOOD_SEED, **change}).encode()


def mset(**change):
    return json.dumps({**GOOD_SET, "id": "bad", **change}).encode()


# (case, file name, bad row (bytes), kind, words in the reason)
JSONL_CASES = [
    (
        "letter outside alphabet",
        seed(wild_type_seq="MKTAJYIAK"),
        "bad_alphabet",
        ["wild_type_seq", "'J'", "position 5"],
    ),
    ("digit in sequence", seed(mutation_seq="MRTA1YIAK"), "bad_alphabet", ["mutation_seq", "'1'"]),
    ("X without extended alphabet", seed(wild_type_seq="MKTAXYIAK"), "bad_alphabet", ["'X'", "data.extended_alphabet"]),
    ("empty sequence", seed(mutation_seq=""), "empty_sequence", ["mutation_seq is empty"]),
    ("over max length", seed(wild_type_seq="M" * 31), "too_long", ["31 residues", "limit of 30"]),
    ("mutant identical", seed(mutation_seq=WT), "identical_mutant", ["identical"]),
    ("unreadable notation", mset(mutations="R2?"), "bad_notation", ["'R2?'"]),
    ("wrong wild-type residue", mset(mutations="R2H"), "notation_mismatch", ["R2H expects R at position 2, found K"]),
    ("past the end", mset(mutations="Q40R"), "notation_mismatch", ["position 40", "22-residue"]),
    (
        "mutations and mutant disagree",
        mset(mutant=K2R, mutations="R10W"),
        "notation_mismatch",
        ["do not give 'mutant'"],
    ),
    ("resulting mutant too long", mset(mutations="K2_T3insWWWWWWWWWW"), "too_long", ["the mutant", "32 residues"]),
    (
        "missing text",
        json.dumps({"wild_type_seq": WT, "mutation_seq": K2R}).encode(),
        "missing_field",
        ["'text_description'"],
    ),
    ("null sequence", seed(wild_type_seq=None), "missing_field", ["'wild_type_seq'"]),
    (
        "neither mutations nor mutant",
        json.dumps({"wild_type": WT}).encode(),
        "missing_field",
        ["'mutations'", "'mutant'"],
    ),
    ("unknown fields", json.dumps({"sequence": WT}).encode(), "missing_field", ["no known fields", "sequence"]),
    ("empty text", seed(text_description="  "), "empty_field", ["'text_description' is empty"]),
    ("only the placeholder", seed(text_description=" <delta_P> "), "empty_field", ["<delta_P> placeholder"]),
    ("number as sequence", seed(wild_type_seq=12), "bad_type", ["'wild_type_seq' must be a string, got int"]),
    ("number as mutations", mset(mutations=5), "bad_type", ["'mutations'"]),
    ("list as text", seed(text_description=["a"]), "bad_type", ["'text_description'", "list"]),
    ("broken JSON", b'{"wild_type_seq": "MK', "malformed_json", ["malformed JSON"]),
    ("JSON that is not an object", b"[1, 2]", "malformed_json", ["got list"]),
    (
        "latin-1 byte",
        seed(text_description="caf\u00e9").replace(b"caf\\u00e9", b"caf\xe9"),
        "not_utf8",
        ["non-UTF-8", "0xe9"],
    ),
    ("duplicate id", mset(mutations="R10W", id="good"), "duplicate_id", ["'good'", ":1)"]),
]


@pytest.mark.parametrize(("case", "bad", "kind", "words"), JSONL_CASES, ids=[c[0] for c in JSONL_CASES])
def test_jsonl_reject(tmp_path, case, bad, kind, words):
    good = json.dumps(GOOD_SET if b'"wild_type"' in bad or b'"sequence"' in bad else GOOD_SEED).encode()
    path = tmp_path / "in.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n")
    result = read_records([path], max_length=30, extended_alphabet=False)
    assert len(result.accepted) == 1 and result.accepted[0].line == 1
    (reject,) = result.rejects
    assert (reject.kind, reject.line, reject.source) == (kind, 2, str(path))
    assert all(w in reject.reason for w in words), reject.reason
    assert reject.raw.encode(errors="replace")[:8] == bad.decode(errors="replace").encode(errors="replace")[:8]


CSV_CASES = [
    ("too few fields", f"P1-K2R,{WT}\n", "malformed_csv", ["2 fields", "header has 5"]),
    ("too many fields", f"P1-K2R,{WT},{K2R},a,b,c\n", "malformed_csv", ["6 fields"]),
    ("text after a closing quote", f'P1-K2R,{WT},{K2R},"a"b,c\n', "malformed_csv", ["malformed CSV"]),
    ("entry names another mutation", f"P1-K2A,{WT},{K2R},a,b\n", "notation_mismatch", ["names K2A", "differ by K2R"]),
    (
        "entry residue does not fit",
        f"P1-T2R,{WT},{K2R},a,b\n",
        "notation_mismatch",
        ["expects T at position 2, found K"],
    ),
    ("entry without accession", f"K2R,{WT},{K2R},a,b\n", "bad_notation", ["ACCESSION-MUTATION"]),
    ("no target text", f"P1-K2R,{WT},{K2R},,\n", "empty_field", ["both empty"]),
    ("latin-1 byte", f"P1-K2R,{WT},{K2R},caf\xe9,b\n", "not_utf8", ["0xe9"]),
]


@pytest.mark.parametrize(("case", "bad", "kind", "words"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_csv_reject(tmp_path, case, bad, kind, words):
    path = tmp_path / "md.csv"
    path.write_bytes((HEADER + f"P1-K2R,{WT},{K2R},a,b\n").encode() + bad.encode("latin-1"))
    result = read_records([path], max_length=1022, extended_alphabet=False)
    assert [r.line for r in result.accepted] == [2]
    (reject,) = result.rejects
    assert (reject.kind, reject.line) == (kind, 3)
    assert all(w in reject.reason for w in words), reject.reason


def test_unclosed_quote_swallows_the_rest_into_one_reject_with_its_raw_text(tmp_path):
    path = tmp_path / "md.csv"
    path.write_text(HEADER + f'P1-K2R,{WT},{K2R},"unclosed,b\nP1-R10W,{WT},x,y,z\n')
    result = read_records([path], max_length=1022, extended_alphabet=False)
    (reject,) = result.rejects
    assert result.accepted == [] and (reject.kind, reject.line) == ("malformed_csv", 2)
    assert "P1-R10W" in reject.raw  # the swallowed line is kept, not lost


def test_missing_description_column_in_mutadescribe(tmp_path):
    path = tmp_path / "md.csv"
    path.write_text(f"entry,protein1,protein2,uniprot_description\nP1-K2R,{WT},{K2R},a\n")
    (reject,) = read_records([path], max_length=1022, extended_alphabet=False).rejects
    assert reject.kind == "missing_field" and "'GPT_description'" in reject.reason


def test_extended_alphabet_accepts_x_b_z_u_o(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"wild_type": "MKXBZUO", "mutations": "K2R"}) + "\n")
    assert read_records([path], max_length=1022, extended_alphabet=True).accepted[0].mutant == "MRXBZUO"
    assert read_records([path], max_length=1022, extended_alphabet=False).rejects[0].kind == "bad_alphabet"


def test_every_reason_is_exercised():
    assert {c[2] for c in JSONL_CASES + CSV_CASES} == set(REASONS)


@pytest.mark.parametrize(
    ("seq", "reason"),
    [
        ("MKT", None),
        ("", "wild_type is empty"),
        ("MKJ", "wild_type has 'J' (first at position 3), outside the 20 standard amino acids"),
        ("M" * 11, "wild_type is 11 residues long, over the limit of 10 (data.max_length)"),
    ],
)
def test_check_sequence_is_what_the_server_reports(seq, reason):
    got = check_sequence(seq, max_length=10, extended_alphabet=False, field="wild_type")
    if reason is None:
        assert got is None
    else:
        assert got.startswith(reason), got
