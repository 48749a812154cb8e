"""Property-based fuzzing of the readers, the notation parser and the HTTP request schema.

Nothing may crash (only the documented errors), nothing may hang (hypothesis deadlines), and every
non-blank JSONL line comes back as exactly one accepted record or one reject with a reason.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from m2t.data.notation import NotationError, apply_mutations, parse_mutations
from m2t.data.readers import read_records
from m2t.errors import InputError
from m2t.serve.schemas import BatchRequest, DescribeRequest

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
AA = "ACDEFGHIKLMNPQRSTVWY"
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.text(alphabet=AA, min_size=1, max_size=40),
    st.lists(st.text(max_size=8), max_size=3),
)
KEYS = st.sampled_from(
    [
        "wild_type_seq",
        "mutation_seq",
        "text_description",
        "wild_type",
        "mutant",
        "mutations",
        "id",
        "description",
        "entry",
        "protein1",
        "protein2",
    ]
)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=6)


def _expected_rows(data: bytes) -> int:
    """Non-blank lines, as the JSONL framer counts them (split on b'\\n', undecodable bytes kept)."""
    lines = [chunk.decode("utf-8", "surrogateescape").rstrip("\r\n") for chunk in data.split(b"\n")]
    return sum(1 for line in lines if line.strip())


def _check_accounting(result, expected: int | None = None) -> None:
    summary = result.summary()
    assert summary["total"] == len(result.accepted) + len(result.rejects)
    if expected is not None:
        assert summary["total"] == expected
    assert all(r.reason and r.kind for r in result.rejects)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_jsonl_are_all_accounted_for(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "in.jsonl"
    path.write_bytes(data)
    result = read_records([path], max_length=200, extended_alphabet=False)
    _check_accounting(result, _expected_rows(data))
    assert not result.accepted or all(r.wild_type for r in result.accepted)


@FUZZ
@given(
    rows=st.lists(
        st.one_of(OBJECTS.map(json.dumps), st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t)),
        max_size=12,
    )
)
def test_random_jsonl_objects_each_become_one_record_or_reject(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("fz") / "in.jsonl"
    data = "\n".join(rows).encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    result = read_records([path], max_length=200, extended_alphabet=False)
    _check_accounting(result, _expected_rows(data))


@FUZZ
@given(
    data=st.binary(max_size=400),
    header=st.sampled_from([b"", b"wild_type,mutations,id\n", b"entry,protein1,protein2,uniprot_description\n"]),
)
def test_random_csv_never_crashes(tmp_path_factory, data, header):
    path = tmp_path_factory.mktemp("fz") / "in.csv"
    path.write_bytes(header + data)
    try:
        result = read_records([path], max_length=200, extended_alphabet=False)
    except InputError as exc:  # e.g. no usable header: a clear error naming the file
        assert str(path) in str(exc)
        return
    _check_accounting(result)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_json_array_never_crash(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "in.json"
    path.write_bytes(b"[" + data)
    try:
        result = read_records([path], max_length=200, extended_alphabet=False)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    _check_accounting(result)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[A-Z][0-9]{1,4}([A-Z]|del|_[A-Z][0-9]{1,4}(ins[A-Z]{1,3}|del))", fullmatch=True),
        st.from_regex(r"p\.[A-Z][a-z]{2}[0-9]{1,3}[A-Z][a-z]{2}", fullmatch=True),
    ),
    wild_type=st.text(alphabet=AA, min_size=1, max_size=60),
)
def test_notation_parser_only_raises_notation_errors(text, wild_type):
    try:
        parsed = parse_mutations(text)
    except NotationError as exc:
        assert str(exc)
        return
    try:
        mutant = apply_mutations(wild_type, parsed)
    except NotationError as exc:
        assert str(exc)
        return
    assert set(mutant) <= set(AA) | {"X"}


@FUZZ
@given(
    body=st.one_of(
        OBJECTS,
        st.recursive(
            VALUES,
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=20,
        ),
    )
)
def test_request_schema_accepts_or_raises_validation_error(body):
    for model, wrapped in ((DescribeRequest, body), (BatchRequest, {"items": [body]})):
        try:
            parsed = model.model_validate(wrapped)
        except ValidationError as exc:
            assert exc.errors()
            continue
        item = parsed if model is DescribeRequest else parsed.items[0]
        assert (item.mutations is None) != (item.mutant is None)


def test_deeply_nested_request_json_is_a_validation_error_not_a_crash():
    body = '{"wild_type": "MK", "mutations": ' + "[" * 5000 + '"K2R"' + "]" * 5000 + "}"
    with pytest.raises(ValidationError):
        DescribeRequest.model_validate_json(body)
