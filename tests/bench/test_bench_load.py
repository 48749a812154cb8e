"""The load client is bounded by its request count and by its deadline, and counts failures."""

from __future__ import annotations

import time

from m2t.bench.apps import free_port
from m2t.bench.load import run_load


def test_stops_after_max_requests_and_counts_refused_connections():
    url = f"http://127.0.0.1:{free_port()}/v1/describe"  # nothing listens there
    out = run_load(url, [{"a": 1}], concurrency=4, max_requests=10, time_limit_s=30, timeout_s=5)
    assert (out["sent"], out["ok"], out["errors"]) == (10, 0, 10)
    assert out["requests_per_s"] == 0 and out["p50_ms"] is None and "ConnectError" in out["first_error"]
    assert out["statuses"] == {"any": {"no answer": 10}} and out["unexpected"] == 0


def test_expect_classes_each_payloads_answers():
    url = f"http://127.0.0.1:{free_port()}/v1/describe"
    out = run_load(
        url, [{"a": 1}, {"b": 2}], concurrency=1, max_requests=4, time_limit_s=30, timeout_s=5, expect=[200, 400]
    )
    assert out["statuses"] == {"2xx": {"no answer": 2}, "4xx": {"no answer": 2}}


def test_stops_at_its_deadline():
    url = f"http://127.0.0.1:{free_port()}/v1/describe"
    started = time.perf_counter()
    out = run_load(url, [{"a": 1}], concurrency=2, max_requests=10**9, time_limit_s=0.5, timeout_s=5)
    assert time.perf_counter() - started < 5
    assert 0 < out["sent"] < 10**9 and out["errors"] == out["sent"]
