"""The bounded load test (jobs/loadtest.py): 2,000 requests at concurrency 32 against the real Serve app on
localhost, a quarter of them invalid; zero 5xx, every request answered, every invalid one refused with a 4xx,
replica and proxy RSS growth under 10%. Plus the checks themselves: a 5xx or a lost request fails them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from m2t.bench.load import NO_ANSWER
from m2t.bench.loadtest import invalid_requests, mixed_requests, summarize
from m2t.config import load_config

REPO = Path(__file__).resolve().parents[2]
RSS = {"replica": {"growth": 0.01}, "proxy": {"growth": 0.02}}


@pytest.mark.slow
def test_2000_requests_at_concurrency_32_all_answered_no_5xx_bounded_memory(tmp_path):
    out = tmp_path / "load.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "jobs" / "loadtest.py"),
            "--out",
            str(out),
            f"output.root={tmp_path}",
            "serve.cpus_per_replica=0.5",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["passed"] and all(result["checks"].values()), result["checks"]
    statuses = result["load"]["statuses"]
    assert statuses["2xx"] == {"200": 1500}  # every valid request answered 200
    assert set(statuses["4xx"]) <= {"413", "422"} and sum(statuses["4xx"].values()) == 500  # every invalid one refused
    assert result["load"]["sent"] == 2000 and result["load"]["unexpected"] == 0
    assert len(result["invalid_kinds"]) == len(invalid_requests(load_config(None))) and result["warmup_requests"] == 500
    for role in ("replica", "proxy"):
        assert result["rss"][role]["samples"] >= 8 and result["rss"][role]["growth"] < 0.10
    assert "wrote" in done.stdout and (tmp_path / "reliability" / "work" / "checkpoint").is_dir()


def test_mixed_requests_put_every_kind_of_invalid_request_in_the_run():
    cfg = load_config(None)
    from m2t.data.synthetic import generate

    records = generate(n_proteins=3, mutants_per_protein=2, min_length=30, max_length=40, seed=0)
    bodies, expect, kinds = mixed_requests(cfg, records, requests=200, invalid_share=0.25)
    assert len(bodies) == len(expect) == len(kinds) == 200 and expect.count(400) == 50
    assert set(kinds) - {"valid"} == {kind for kind, _ in invalid_requests(cfg)}
    assert all((k == "valid") == (e == 200) for k, e in zip(kinds, expect, strict=True))


def _load(statuses: dict, sent: int = 10) -> dict:
    return {"sent": sent, "statuses": statuses}


def test_checks_pass_only_when_everything_is_answered_as_expected():
    good = _load({"2xx": {"200": 7}, "4xx": {"422": 3}})
    assert summarize(good, requests=10, max_rss_growth=0.1, rss=RSS)["passed"]
    failing = {
        "zero_5xx": _load({"2xx": {"200": 6, "500": 1}, "4xx": {"422": 3}}),
        "every_request_answered": _load({"2xx": {"200": 6, NO_ANSWER: 1}, "4xx": {"422": 3}}),
        "invalid_refused_4xx": _load({"2xx": {"200": 7}, "4xx": {"422": 2, "200": 1}}),
        "valid_answered_200": _load({"2xx": {"200": 6, "422": 1}, "4xx": {"422": 3}}),
        "every_request_sent": _load({"2xx": {"200": 7}, "4xx": {"422": 3}}, sent=10) | {"sent": 9},
    }
    for check, load in failing.items():
        summary = summarize(load, requests=10, max_rss_growth=0.1, rss=RSS)
        assert not summary["passed"] and not summary["checks"][check], check
    grown = summarize(good, requests=10, max_rss_growth=0.1, rss={"replica": {"growth": 0.12}})
    assert not grown["passed"] and not grown["checks"]["rss_growth_under_limit"]


def test_a_run_too_short_to_compare_its_quarters_fails_the_memory_check_with_a_reason():
    from m2t.bench.loadtest import rss_growth

    short = rss_growth([(0.0, {"replica": 100}), (0.25, {"replica": 100})], "replica")
    assert short["growth"] is None and "too short" in short["why"]
    summary = summarize(
        _load({"2xx": {"200": 7}, "4xx": {"422": 3}}), requests=10, max_rss_growth=0.1, rss={"replica": short}
    )
    assert not summary["passed"] and not summary["checks"]["rss_growth_under_limit"]
    grown = rss_growth([(t / 4, {"replica": 100 + 10 * (t >= 6)}) for t in range(8)], "replica")
    assert grown["growth"] == 0.1 and grown["samples"] == 8
