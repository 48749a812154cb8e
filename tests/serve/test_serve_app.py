"""The Ray Serve app over real HTTP: a real ``serve.run`` on 127.0.0.1 with a tiny checkpoint.

One deployment for the module (API key set, small limits so the 413/422 cases stay small);
``serve.shutdown()`` at the end; the shared Ray cluster stays up.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from serve_fixtures import PageDriver, free_port, opened_checkpoint

from m2t.config import load_config
from m2t.encoders import build_encoder
from m2t.infer.describer import Describer, Description
from m2t.infer.effect import METHODS

KEY = "test-key-5f0c2a9e71d3"
AUTH = {"Authorization": f"Bearer {KEY}"}
WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
OVERRIDES = [
    "serve.max_batch_items=4",
    "serve.max_body_bytes=4096",
    "serve.max_new_tokens_limit=16",
    "serve.batch_wait_timeout_s=0.25",
    "serve.max_batch_size=8",
    "serve.cpus_per_replica=0.5",
    "serve.use_gpu=false",
    "data.max_length=200",
    "generation.max_new_tokens=6",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return opened_checkpoint(load_config(None, OVERRIDES), tmp_path_factory.mktemp("serve") / "checkpoint")


@pytest.fixture(scope="module")
def url(ray_cluster, checkpoint) -> str:
    from ray import serve

    from m2t.serve.app import make_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(make_app(load_config(None, OVERRIDES), checkpoint, api_key=KEY), name="m2t-test", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def post(url: str, path: str, body, **kw) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=kw.pop("headers", AUTH), timeout=120, **kw)


def get(url: str, path: str, **kw) -> httpx.Response:
    return httpx.get(url + path, headers=kw.pop("headers", AUTH), timeout=120, **kw)


def reference(checkpoint: Path, wild_type: str, mutant: str, max_new_tokens: int) -> Description:
    """What evaluate / batch scoring write for the pair: the inference Describer, in this process, no Serve."""
    describer = Describer(checkpoint=checkpoint, cfg=load_config(None, OVERRIDES))
    return describer.describe_with_effects([(wild_type, mutant)], max_new_tokens=max_new_tokens, temperature=0.0)[0]


def test_healthz_docs_openapi_and_the_page_are_open(url):
    assert get(url, "/healthz", headers={}).json() == {"status": "ok"}
    page = get(url, "/", headers={})
    assert page.status_code == 200 and 'src="static/page.js"' in page.text
    docs = get(url, "/docs", headers={})
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = get(url, "/openapi.json", headers={}).json()["paths"]
    assert {"/healthz", "/v1/model", "/v1/describe", "/v1/describe:batch"} <= set(paths)


def test_model_info_names_the_checkpoint_encoder_and_limits(url, checkpoint):
    info = get(url, "/v1/model").json()
    encoder = build_encoder(load_config(None, OVERRIDES).encoder)
    assert info["encoder_id"] == encoder.encoder_id
    assert info["base_llm"] == "tiny" and info["num_media_tokens"] == 8
    assert info["effect_score_method"] == "unirep-llr"
    assert info["effect_score"] == {
        "method": "unirep-llr",
        "encoder_id": "unirep:64",
        "random_weights": False,
        "warning": None,
        "about": METHODS["unirep-llr"].about,
    }
    assert info["checkpoint"] == str(checkpoint.resolve())
    assert info["limits"] == {
        "max_length": 200,
        "extended_alphabet": False,
        "max_new_tokens_limit": 16,
        "max_batch_items": 4,
        "max_body_bytes": 4096,
        "max_batch_size": 8,
        "batch_wait_timeout_s": 0.25,
    }


def test_single_request_matches_the_model_run_directly(url, checkpoint):
    r = post(url, "/v1/describe", {"wild_type": WT, "mutations": "p.Lys2Arg", "id": "x1", "max_new_tokens": 6})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "x1" and body["mutations"] == ["K2R"] and body["window_start"] is None
    expected = reference(checkpoint, WT, "MRTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", 6)
    assert body["description"] == expected.text and body["description"]
    assert body["effect_score"] == pytest.approx(expected.effect.score, abs=1e-6) and body["effect_score_note"] is None
    assert (body["effect_score_source"], body["effect_score_warning"]) == ("unirep-llr (unirep:64)", None)
    t = body["timings"]
    assert t["batch_size"] == 1 and t["total_ms"] >= t["encode_ms"] + t["generate_ms"] > 0
    assert body["model"] == get(url, "/v1/model").json()["model"]


def test_mutant_sequence_gives_derived_notation_and_same_text_as_notation(url):
    mutant = WT[:9] + "W" + WT[10:]  # R10W
    by_seq = post(url, "/v1/describe", {"wild_type": WT, "mutant": mutant}).json()
    by_notation = post(url, "/v1/describe", {"wild_type": WT, "mutations": ["R10W"]}).json()
    assert by_seq["mutations"] == by_notation["mutations"] == ["R10W"]
    assert by_seq["description"] == by_notation["description"]


def test_batch_keeps_order_normalises_and_reuses_cached_wild_types(url):
    before = get(url, "/v1/model").json()["stats"]["wt_cache"]
    items = [
        {"id": "a", "wild_type": WT, "mutations": "K2R"},
        {"id": "b", "wild_type": WT, "mutations": "A4del"},
        {"id": "c", "wild_type": "MKTAYIAKQR", "mutations": "K2_T3insG"},
        {"id": "d", "wild_type": WT, "mutant": WT.replace("QRQ", "QHQ", 1)},
    ]
    r = post(url, "/v1/describe:batch", {"items": items})
    assert r.status_code == 200, r.text
    out = r.json()["items"]
    assert [o["id"] for o in out] == ["a", "b", "c", "d"]
    assert [o["mutations"] for o in out] == [["K2R"], ["A4del"], ["K2_T3insG"], ["R10H"]]
    assert [o["effect_score_note"] for o in out] == [None] * 4  # UniRep's likelihood ratio scores indels too
    assert all(isinstance(o["effect_score"], float) for o in out)
    assert all(o["description"] for o in out)
    assert {o["timings"]["batch_size"] for o in out} == {4}
    for item, answer in zip(items, out, strict=True):  # batched with padding = alone (greedy): no mix-ups
        alone = post(url, "/v1/describe", {k: v for k, v in item.items() if k != "id"}).json()
        assert (alone["description"], alone["timings"]["batch_size"]) == (answer["description"], 1)
        assert alone["effect_score"] == pytest.approx(answer["effect_score"], abs=1e-4)  # the mutant's pass, batched
    after = get(url, "/v1/model").json()["stats"]["wt_cache"]
    assert after["misses"] - before["misses"] == 1  # "MKTAYIAKQR" is new; WT was cached by earlier tests
    assert after["hits"] - before["hits"] == 1 + 4  # WT once for the batch however many items use it, + 4 alone


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"wild_type": "MKTAJYIAK", "mutations": "K2R"}, ["body", "wild_type"], ["J"]),
        ({"wild_type": "M" * 201, "mutations": "M2A"}, ["body", "wild_type"], ["201", "200"]),
        ({"wild_type": WT, "mutations": "R2H"}, ["body", "mutations"], ["R2H", "K"]),
        ({"wild_type": WT, "mutations": "R2?"}, ["body", "mutations"], ["R2?"]),
        ({"wild_type": WT, "mutant": WT + "Z"}, ["body", "mutant"], ["Z"]),
        ({"wild_type": WT, "mutant": WT}, ["body", "mutant"], ["identical"]),
        ({"wild_type": WT, "mutations": "K2R", "max_new_tokens": 17}, ["body", "max_new_tokens"], ["17", "16"]),
        ({"wild_type": WT, "mutations": "K2R", "mutant": WT}, ["body"], ["exactly one"]),
    ],
)
def test_invalid_input_is_422_naming_the_field(url, body, loc, words):
    r = post(url, "/v1/describe", body)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert [e["loc"] for e in errors] == [loc]
    assert all(w in errors[0]["msg"] for w in words), errors[0]["msg"]


def test_batch_reports_every_bad_item_and_the_item_limit(url):
    items = [
        {"wild_type": WT, "mutations": "K2R"},
        {"wild_type": WT, "mutations": "R2H"},
        {"wild_type": "MKTAB", "mutations": "K2R"},
    ]
    errors = post(url, "/v1/describe:batch", {"items": items}).json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "items", 1, "mutations"], ["body", "items", 2, "wild_type"]]
    r = post(url, "/v1/describe:batch", {"items": [{"wild_type": WT, "mutations": "K2R"}] * 5})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "items"]
    assert "at most 4" in r.json()["detail"][0]["msg"]


def test_oversized_body_is_413_by_header_and_by_actual_bytes(url):
    big = {"wild_type": WT * 150, "mutations": "K2R"}  # ~5 KB > 4096
    r = post(url, "/v1/describe", big)
    assert r.status_code == 413 and "4096" in r.json()["detail"]

    def chunks():  # no Content-Length: chunked transfer
        yield b'{"wild_type": "'
        for _ in range(6):
            yield WT.encode() * 30
        yield b'", "mutations": "K2R"}'

    r = httpx.post(
        url + "/v1/describe", content=chunks(), headers={**AUTH, "content-type": "application/json"}, timeout=120
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413


def test_api_key_is_required_and_never_logged(url, ray_cluster):
    body = {"wild_type": WT, "mutations": "K2R"}
    assert post(url, "/v1/describe", body, headers={}).status_code == 401
    assert post(url, "/v1/describe", body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert get(url, "/v1/model", headers={}).status_code == 401
    assert post(url, "/v1/describe", body).status_code == 200
    logs = Path(ray_cluster._private.worker._global_node.get_session_dir_path()) / "logs"
    leaked = [p for p in logs.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []


def test_concurrent_requests_are_batched(url):
    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=AUTH, timeout=120) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        url + "/v1/describe", json={"wild_type": WT, "mutations": f"{WT[i]}{i + 1}W", "id": str(i)}
                    )
                    for i in range(1, 17)
                )
            )

    responses = asyncio.run(fire())
    assert [r.status_code for r in responses] == [200] * 16
    sizes = [r.json()["timings"]["batch_size"] for r in responses]
    assert max(sizes) > 1, sizes
    assert [r.json()["mutations"] for r in responses] == [[f"{WT[i]}{i + 1}W"] for i in range(1, 17)]
    stats = get(url, "/v1/model").json()["stats"]
    assert stats["max_batch_size_seen"] > 1 and stats["max_batch_size_seen"] <= 8
    assert stats["requests_inside"] == 0 and stats["waiting_at_gate"] == 0  # all answered: nothing left at the gate


def test_the_page_at_the_root_describes_a_mutation(browser, url, tmp_path):
    """The page in a real Chromium at route prefix "/" (tests/serve/test_webpage.py has it under a prefix)."""
    page = PageDriver(browser, url + "/")
    page.open()  # it asks for the model: 401, so it shows the key field
    page.fill(api_key=KEY, wild_type=WT, mutations="K2R")
    page.submit()
    shown = page.result()
    page.screenshot(tmp_path / "page-at-root.png")
    assert shown is not None, page.errors()
    assert shown["normalised"] == "K2R"
    assert (
        shown["description"] == post(url, "/v1/describe", {"wild_type": WT, "mutations": "K2R"}).json()["description"]
    )


# The contract of /openapi.json, both ways, with bodies that schemathesis draws from the served schema: a schema-valid
# body gets 200, a schema-invalid one a 4xx. Valid bodies are fitted to the two rules JSON Schema cannot state (the
# schema's description names them): the mutation fits the wild type, and the mutant differs from it.
OPERATIONS = ["/v1/describe", "/v1/describe:batch"]


@pytest.fixture(scope="module")
def openapi(url) -> dict:
    return get(url, "/openapi.json").json()


def validator(openapi: dict, path: str):
    """A JSON Schema validator of the body of the POST ``path`` (its $refs resolved in the served document)."""
    import jsonschema

    ref = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**ref, "components": openapi["components"]})


def bodies(openapi: dict, path: str, mode: str):
    """Request bodies of the POST ``path`` drawn by schemathesis, schema-valid or not (``mode``)."""
    import schemathesis
    from schemathesis import GenerationMode

    operation = schemathesis.openapi.from_dict(openapi)[path]["POST"]
    return operation.as_strategy(generation_mode=GenerationMode(mode)).map(lambda case: case.body)


def fitted(item: dict, data) -> dict:
    """``item`` with its mutation redrawn to fit its wild type: one substitution, as notation or as the mutant."""
    from m2t.data.amino_acids import STANDARD

    wt = "".join(item["wild_type"].split()).upper()
    at = data.draw(st.integers(0, len(wt) - 1))
    to = data.draw(st.sampled_from([a for a in STANDARD if a != wt[at]]))
    if item.get("mutations") is not None:
        notation = f"{wt[at]}{at + 1}{to}"
        return {**item, "mutations": [notation] if isinstance(item["mutations"], list) else notation}
    return {**item, "mutant": wt[:at] + to + wt[at + 1 :]}


@pytest.mark.parametrize("path", OPERATIONS)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_a_schema_valid_body_gets_200(url, openapi, path, data):
    body = data.draw(bodies(openapi, path, "positive"))
    body = {"items": [fitted(i, data) for i in body["items"]]} if "items" in body else fitted(body, data)
    assert validator(openapi, path).is_valid(body), body  # still schema-valid once fitted
    assume(len(json.dumps(body)) <= 4096)  # serve.max_body_bytes: a transport limit (413), not the body's schema
    r = post(url, path, body)
    assert r.status_code == 200, (body, r.text)


@pytest.mark.parametrize("path", OPERATIONS)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_a_schema_invalid_body_gets_4xx(url, openapi, path, data):
    body = data.draw(bodies(openapi, path, "negative"))
    if isinstance(body, bytes):  # not JSON at all
        r = httpx.post(url + path, content=body, headers={**AUTH, "content-type": "application/json"}, timeout=120)
    else:
        assume(not validator(openapi, path).is_valid(body))
        r = post(url, path, body)
    assert 400 <= r.status_code < 500, (body, r.status_code, r.text)


@pytest.mark.parametrize(
    "body",
    [
        {"wild_type": WT, "mutations": "K2R", "temperature": False},  # the fuzzer's find: was 200 (false -> 0.0)
        {"wild_type": WT, "mutations": "K2R", "max_new_tokens": "4"},
        {"wild_type": WT, "mutations": "K2R", "max_new_tokens": True},
        {"wild_type": WT, "mutations": "K2R", "id": 7},
        {"wild_type": "0", "mutant": "0"},  # the fuzzer's other find: schema-valid, yet 422; now the schema says no
        {"wild_type": WT, "mutations": []},
        {"wild_type": "MKTA\u0131", "mutations": "K2R"},  # dotless i: .upper() would make it I
    ],
)
def test_the_fuzzers_finds_are_schema_invalid_and_refused(url, openapi, body):
    assert not validator(openapi, "/v1/describe").is_valid(body)
    assert post(url, "/v1/describe", body).status_code == 422


@pytest.mark.parametrize(
    "extra",
    [
        {"max_new_tokens": 2.0},  # JSON Schema's integer includes 2.0 (a generated client may send it)
        {"temperature": 1.1125369292536007e-308},  # the contract test's find: logits / it overflowed, an HTTP 500
        {"temperature": 1e300, "top_p": 1e-300},
    ],
)
def test_edge_values_the_schema_allows_are_answered(url, extra):
    r = post(url, "/v1/describe", {"wild_type": WT, "mutations": "K2R", **extra})
    assert r.status_code == 200, r.text


def test_the_schema_states_the_served_limits(openapi):
    components = openapi["components"]["schemas"]
    fields = components["DescribeRequest"]["properties"]
    assert {b.get("maximum") for b in fields["max_new_tokens"]["anyOf"]} == {16, None}  # serve.max_new_tokens_limit
    assert components["BatchRequest"]["properties"]["items"]["maxItems"] == 4  # serve.max_batch_items
    pattern = fields["wild_type"]["pattern"]
    assert pattern.endswith("{1,200}$")  # data.max_length
    assert re.fullmatch(pattern, " mkt\nAYI ") and not re.search(pattern, "MKTX") and not re.search(pattern, "M" * 201)
