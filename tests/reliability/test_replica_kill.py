"""A Serve replica killed (SIGKILL of its process) under load: Serve replaces it, requests succeed again with the
same answers, /healthz and `serve status` show the outage and the recovery, and no client waits past
``serve.request_timeout_s``: requests inside the dead replica fail fast (500), queued ones either reach the new
replica or get the proxy's 408 at the timeout."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from m2t.bench.apps import bench_checkpoint, served
from m2t.bench.loadtest import serve_processes
from m2t.config import load_config

pytestmark = pytest.mark.slow
TIMEOUT_S = 30.0  # serve.request_timeout_s: the longest any client may wait
HOLD_S = 4.0  # serve.batch_wait_timeout_s: requests wait at the replica's batch gate for the 16 it has seen
BODY = {"wild_type": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "mutations": "K2R"}


def _call(url: str) -> tuple[int | str, float]:
    """(status, seconds) of one describe; the client's own timeout is far past the server's."""
    started = time.monotonic()
    try:
        status: int | str = httpx.post(f"{url}/v1/describe", json=BODY, timeout=3 * TIMEOUT_S).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


def _health(url: str) -> int | str:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


def _wait_inside(url: str, *, at_least: int, timeout_s: float = 30.0) -> dict:
    """The replica's stats once at least ``at_least`` items are inside it (at its batch gate or generating)."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = httpx.get(f"{url}/v1/model", timeout=10).json()["stats"]
        if stats["requests_inside"] >= at_least or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def test_a_killed_replica_is_replaced_and_no_client_hangs(ray_cluster, tmp_path):
    from ray import serve

    cfg = load_config(
        None,
        [
            "serve.cpus_per_replica=0.5",
            f"serve.request_timeout_s={TIMEOUT_S}",
            "serve.health_check_period_s=1",
            "generation.max_new_tokens=16",
            "serve.max_batch_size=32",
            f"serve.batch_wait_timeout_s={HOLD_S}",
        ],
    )
    with served({"kill": cfg}, bench_checkpoint(cfg, tmp_path / "checkpoint")) as urls:
        url = urls["kill"]
        before = httpx.post(f"{url}/v1/describe", json=BODY, timeout=60).json()["description"]
        (replica,) = serve_processes("m2t-bench-kill")["replica"]
        with ThreadPoolExecutor(16) as pool:
            sent = time.monotonic()
            calls = [pool.submit(_call, url) for _ in range(16)]
            inside = _wait_inside(url, at_least=8)
            os.kill(replica.pid, signal.SIGKILL)
            killed = time.monotonic()
            health, app_states, deadline = [], [], killed + 180
            while time.monotonic() < deadline:
                health.append(_health(url))
                app_states.append(serve.status().applications["m2t-bench-kill"].status)
                if health[-1] == 200 and app_states[-1] == "RUNNING" and len(health) > 1:
                    break
                time.sleep(0.25)
            recovered = time.monotonic() - killed
            outcomes = [c.result() for c in calls]

        assert health[-1] == 200 and app_states[-1] == "RUNNING", (
            f"not recovered after {recovered:.0f} s: {health[-5:]}"
        )
        assert any(h != 200 for h in health), "the outage never showed on /healthz"  # timeouts / errors meanwhile
        assert any(s != "RUNNING" for s in app_states), f"serve status never left RUNNING: {set(app_states)}"
        for status, seconds in outcomes:  # answered (200), failed fast (500) or timed out by the server (408)
            assert status in (200, 408, 500), outcomes
            assert seconds <= TIMEOUT_S + 10, f"a client waited {seconds:.0f} s (request_timeout_s={TIMEOUT_S})"
        failed_fast = [seconds - (killed - sent) for status, seconds in outcomes if status == 500]  # s after the kill
        assert failed_fast and max(failed_fast) < 10, (inside, outcomes)  # the requests inside the replica fail at once

        (new,) = serve_processes("m2t-bench-kill")["replica"]
        assert new.pid != replica.pid
        after = httpx.post(f"{url}/v1/describe", json=BODY, timeout=60)
        assert after.status_code == 200 and after.json()["description"] == before  # same model, same greedy answer
