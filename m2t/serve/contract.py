"""What the served config allows, stated in the OpenAPI schema (the checks themselves: :mod:`m2t.serve.prepare`).

A sequence is residue letters (either case) with spaces, tabs and line breaks anywhere (the API drops them), at most
``data.max_length`` residues; ``max_new_tokens`` is at most ``serve.max_new_tokens_limit``; a batch has at most
``serve.max_batch_items`` items. The notation's fit to the wild type, and a mutant that differs from it, are rules
JSON Schema cannot state: the request's description names them. So a client generated from ``/openapi.json`` can
check before it sends (tests/serve/test_serve_app.py checks the contract both ways).
"""

from __future__ import annotations

from typing import Any

from m2t.data.amino_acids import EXTENDED, STANDARD

SEQUENCE_SPACE = " \t\r\n"
CROSS_FIELD = (
    "422 also for what the schema cannot state: notation that does not fit the wild type (a residue or position "
    "it lacks), a mutant identical to the wild type, or a mutant or window over the length limit."
)


def sequence_pattern(*, max_length: int, extended_alphabet: bool) -> str:
    letters = STANDARD + EXTENDED * extended_alphabet
    return rf"^[{SEQUENCE_SPACE}]*(?:[{letters}{letters.lower()}][{SEQUENCE_SPACE}]*){{1,{max_length}}}$"


def state_limits(
    schema: dict[str, Any], *, max_length: int, extended_alphabet: bool, max_new_tokens: int, max_batch_items: int
) -> dict[str, Any]:
    """``schema`` (FastAPI's OpenAPI) with the served limits filled in: each sequence's ``pattern``, the
    ``maximum`` of ``max_new_tokens`` and the ``maxItems`` of a batch."""
    models = schema["components"]["schemas"]
    fields = models["DescribeRequest"]["properties"]
    pattern = sequence_pattern(max_length=max_length, extended_alphabet=extended_alphabet)
    for name in ("wild_type", "mutant"):
        for branch in fields[name].get("anyOf", [fields[name]]):
            if branch.get("type") == "string":
                branch["pattern"] = pattern
    for branch in fields["max_new_tokens"]["anyOf"]:
        if branch.get("type") == "integer":
            branch["maximum"] = max_new_tokens
    models["BatchRequest"]["properties"]["items"]["maxItems"] = max_batch_items
    models["DescribeRequest"]["description"] += " " + CROSS_FIELD
    return schema
