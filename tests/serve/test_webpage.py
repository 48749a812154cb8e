"""The web page and the API's contract, on one app that ``jobs/serve.py`` serves under a path prefix with a key.

``jobs/serve.py`` runs as a user starts it (``serve.route_prefix=/m2t/ui``, ``M2T_API_KEY`` set), joining the
tests' Ray cluster through RAY_ADDRESS; the page's address is the one it prints. The page is driven in a real
headless Chromium (tests skip, saying why, without one); screenshots go to the test's tmp_path. The serve section
keeps its defaults (limits included), so every example in /openapi.json must pass them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator
from serve_fixtures import PageDriver, free_port, opened_checkpoint

from m2t.config import REPO_ROOT, load_config
from m2t.serve.http import API_KEY_ENV

KEY = "page-key-0b7e61c4d92a"
AUTH = {"Authorization": f"Bearer {KEY}"}
PREFIX = "/m2t/ui"
OVERRIDES = [
    f"serve.route_prefix={PREFIX}",
    "serve.cpus_per_replica=0.5",
    "serve.use_gpu=false",
    "generation.max_new_tokens=6",
]
WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
FASTA = ">sp|P00001|DEMO_HUMAN demo protein\nMKTAYIAKQRQISFV\nKSHFSRQLEERLGLIEVQ\n"


@pytest.fixture(scope="module")
def page_url(ray_cluster, tmp_path_factory) -> str:
    """``python jobs/serve.py --port P --checkpoint C serve.route_prefix=/m2t/ui ...``; SIGTERM stops it at the end."""
    tmp = tmp_path_factory.mktemp("webpage")
    checkpoint = opened_checkpoint(load_config(None, OVERRIDES), tmp / "checkpoint")
    port, log = free_port(), tmp / "serve.log"
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address, API_KEY_ENV: KEY}
    cmd = [sys.executable, "jobs/serve.py", "--port", str(port), "--checkpoint", str(checkpoint), *OVERRIDES]
    with log.open("w") as out:
        job = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not (printed := re.search(r"web page: (\S+)", log.read_text())):
            if job.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jobs/serve.py printed no page address (exit {job.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        assert f"the value of ${API_KEY_ENV}" in log.read_text()  # it says the page will ask for the key
        yield printed.group(1)
    finally:
        job.send_signal(signal.SIGTERM)  # jobs/serve.py shuts Serve down
        try:
            job.wait(timeout=90)
        except subprocess.TimeoutExpired:
            job.kill()


@pytest.fixture
def page(browser, page_url) -> PageDriver:
    return PageDriver(browser, page_url)


def post(url: str, body: dict) -> httpx.Response:
    return httpx.post(url, json=body, headers=AUTH, timeout=120)


def test_the_printed_address_is_the_page_under_the_prefix_with_relative_urls(page_url):
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+{PREFIX}/", page_url)
    r = httpx.get(page_url, timeout=60)  # open without the key, like /docs
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "form-action 'none'" in r.headers["content-security-policy"]
    links = re.findall(r'(?:href|src)="([^"]+)"', r.text)
    assert links and all(not re.match(r"[a-z]+:|/", link) for link in links), links  # relative only
    for link in links:
        assert httpx.get(page_url + link, timeout=60).status_code == 200, link
    js = httpx.get(page_url + "static/page.js", timeout=60)
    assert "javascript" in js.headers["content-type"]
    assert not re.search(r"https?://", js.text + httpx.get(page_url + "static/page.css", timeout=60).text)
    bare = httpx.get(page_url.rstrip("/"), timeout=60)  # the prefix without its slash goes to the page
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith(f"{PREFIX}/")


def test_api_key_flow_then_a_description_from_fasta(page, page_url, tmp_path):
    page.open()
    page.driver.execute_script("sessionStorage.clear()")  # a new tab's state, whatever ran before
    page.open(page_url.rstrip("/"))  # as typed in the address bar, without the final slash
    assert page.driver.current_url == page_url
    assert page.visible("api_key") and "needs an API key" in page.text("model")
    page.fill(wild_type=FASTA, mutations="p.Lys2Arg", protein_name="demo protein")
    page.submit()
    assert page.errors() == {"api_key": "This server needs an API key (401): enter it here, then describe again."}
    assert page.result() is None
    page.fill(api_key="not-the-key")
    page.submit()
    assert "refused this key (401)" in page.errors()["api_key"] and page.invalid() == {"api_key"}
    page.fill(api_key=KEY)
    page.submit()
    shown = page.result()
    page.screenshot(tmp_path / "described.png")
    assert page.errors() == {}, page.errors()
    api = post(page_url + "v1/describe", {"wild_type": WT, "mutations": "p.Lys2Arg", "protein_name": "demo protein"})
    api = api.json()
    assert shown["description"] == api["description"] != ""  # the FASTA was read as WT
    assert shown["normalised"] == "K2R" and shown["answered-by"] == api["model"]
    assert re.fullmatch(
        r"total [\d.]+ ms \(queue [\d.]+ ms, encode [\d.]+ ms, generate [\d.]+ ms\), batch of 1", shown["timings"]
    )
    assert (tmp_path / "described.png").stat().st_size > 10_000
    # the key stays in this tab: sessionStorage, never localStorage, a cookie or a URL; nothing outside the server
    session, local, cookie, fetched = page.driver.execute_script(
        "return [sessionStorage.getItem('m2t.api_key'), localStorage.length, document.cookie, "
        "performance.getEntriesByType('resource').map(e => e.name)]"
    )
    assert (session, local, cookie) == (KEY, 0, "")
    assert fetched and all(url.startswith(page_url) and KEY not in url for url in fetched), fetched
    assert KEY not in page.driver.current_url
    page.open()  # a reload in the same tab keeps the key: the model line shows, no 401
    assert page.text("model").startswith("Model m2t:")


def test_the_key_reaches_no_ray_log(ray_cluster, page_url):
    logs = Path(ray_cluster._private.worker._global_node.get_session_dir_path()) / "logs"
    assert logs.is_dir()
    assert [p for p in logs.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()] == []


@pytest.mark.parametrize(
    ("fields", "mode", "field"),
    [
        ({"wild_type": WT, "mutations": "R2H"}, "mutations", "mutations"),
        ({"wild_type": "MKTAJYIAK", "mutations": "K2R"}, "mutations", "wild_type"),
        ({"wild_type": WT, "mutant": WT}, "mutant", "mutant"),
        ({"wild_type": WT, "mutations": "K2R", "max_new_tokens": "1000"}, "mutations", "max_new_tokens"),
        ({"wild_type": WT, "mutations": "K2R", "temperature": "-1"}, "mutations", "temperature"),
    ],
    ids=["notation", "alphabet", "identical-mutant", "token-limit", "pydantic-bound"],
)
def test_an_invalid_field_shows_the_apis_words_next_to_it(page, page_url, fields, mode, field, tmp_path):
    page.open()  # a fresh form; the key comes back from this tab's sessionStorage or is typed here
    page.fill(mode=mode, api_key=KEY, **fields)
    page.submit()
    numbers = {"max_new_tokens": int, "temperature": float}
    body = {k: numbers.get(k, str)(v) for k, v in fields.items()}
    (expected,) = post(page_url + "v1/describe", body).json()["detail"]  # what the API says about this input
    assert expected["loc"] == ["body", field]
    assert page.errors() == {field: expected["msg"].removeprefix("Value error, ")}
    assert page.invalid() == {field} and page.result() is None
    assert "(422)" in page.text("status")
    page.screenshot(tmp_path / f"error-{field}.png")


def test_a_body_over_the_limit_shows_413_next_to_the_sequence(page):
    page.open()
    page.fill(api_key=KEY, wild_type="M" * 1_000_001, mutations="M1A")  # serve.max_body_bytes: 1,000,000
    page.submit()
    errors = page.errors()
    assert list(errors) == ["wild_type"] and errors["wild_type"].startswith("Too large for this server (413): ")
    assert "the limit is 1000000 bytes (serve.max_body_bytes)" in errors["wild_type"]


def openapi_examples(doc: dict) -> list[tuple[str, str, dict]]:
    """(path, where, body) for every example of every request body: the media type's ``example`` and ``examples``,
    and the ``examples`` of its schema (followed through ``$ref``)."""
    found = []
    for path, operations in doc["paths"].items():
        for op in operations.values():
            for media in op.get("requestBody", {}).get("content", {}).values():
                schema = media.get("schema", {})
                if "$ref" in schema:
                    schema = doc["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
                found += [(path, "media example", media["example"])] if "example" in media else []
                found += [(path, f"media examples.{k}", v["value"]) for k, v in media.get("examples", {}).items()]
                found += [(path, f"schema examples[{i}]", v) for i, v in enumerate(schema.get("examples", []))]
    return found


def test_every_openapi_example_is_answered_200(page_url):
    doc = httpx.get(page_url + "openapi.json", timeout=60).json()
    (server,) = doc["servers"]  # the prefix, as a generated client would use it
    assert server["url"] == PREFIX
    examples = openapi_examples(doc)
    bodies = {path for path, op in doc["paths"].items() if "requestBody" in op.get("post", {})}
    assert {path for path, _, _ in examples} == bodies == {"/v1/describe", "/v1/describe:batch"}
    base = page_url.removesuffix(PREFIX + "/")
    for path, where, body in examples:
        r = post(base + server["url"] + path, body)
        assert r.status_code == 200, f"{path} {where}: {body} -> {r.status_code} {r.text}"


def test_the_schema_states_exactly_one_of_mutations_or_mutant(page_url):
    doc = httpx.get(page_url + "openapi.json", timeout=60).json()
    validator = Draft202012Validator({"$ref": "#/components/schemas/DescribeRequest", "components": doc["components"]})
    for path, where, body in openapi_examples(doc):
        for item in body.get("items", [body]):
            assert validator.is_valid(item), f"{path} {where}: {item}"
    cases = [
        ({"wild_type": WT, "mutations": "K2R"}, True),
        ({"wild_type": WT, "mutant": WT[:3] + "W" + WT[4:]}, True),
        ({"wild_type": WT, "mutations": None, "mutant": WT[:3] + "W" + WT[4:]}, True),
        ({"wild_type": WT, "mutations": "K2R", "mutant": WT}, False),
        ({"wild_type": WT}, False),
        ({"wild_type": WT, "mutations": None, "mutant": None}, False),
    ]
    for body, valid in cases:  # the schema and the server agree on each
        assert validator.is_valid(body) == valid, body
        assert post(page_url + "v1/describe", body).status_code == (200 if valid else 422), body


def test_a_wheel_carries_the_page(m2t_wheel):
    """A non-editable install has the page: the static files are package data (conftest builds the wheel)."""
    static = REPO_ROOT / "m2t" / "serve" / "static"
    with zipfile.ZipFile(m2t_wheel) as zf:
        assert {f"m2t/serve/static/{p.name}" for p in static.iterdir()} <= set(zf.namelist())
