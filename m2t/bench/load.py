"""A bounded closed-loop HTTP load client (asyncio + httpx): ``concurrency`` workers, a request cap, a deadline.

Each worker sends its next request as soon as its previous one is answered. Sending stops when
``max_requests`` have been sent or ``time_limit_s`` has passed; requests in flight then finish
(each bounded by ``timeout_s``), so a run always ends by itself within ``time_limit_s + timeout_s``.
With ``expect`` (one status class per payload: 200 = must succeed, 400 = must be refused with a 4xx),
every answer is checked against its payload's and the mismatches are counted.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx
import numpy as np

NO_ANSWER = "no answer"  # status key of requests that got no HTTP response (refused, reset, timed out)


async def _load(
    url: str,
    payloads: Sequence[dict],
    *,
    concurrency: int,
    max_requests: int,
    time_limit_s: float,
    timeout_s: float,
    expect: Sequence[int] | None,
) -> dict:
    latencies: list[float] = []
    timings: list[dict] = []
    errors: list[str] = []
    unexpected: list[str] = []
    statuses: dict[str, Counter[str]] = {}  # expected class ("2xx"/"4xx"/"any") -> answer status -> count
    sent = 0
    deadline = time.perf_counter() + time_limit_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            i = sent
            body, want = payloads[i % len(payloads)], expect[i % len(expect)] if expect else None
            seen = statuses.setdefault(f"{want // 100}xx" if want else "any", Counter())
            sent += 1
            started = time.perf_counter()
            try:
                response = await client.post(url, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"request {i}: {type(exc).__name__}: {exc}")
                seen[NO_ANSWER] += 1
                continue
            seen[str(response.status_code)] += 1
            if want is not None and response.status_code // 100 != want // 100:
                unexpected.append(
                    f"request {i}: expected {want // 100}xx, got HTTP {response.status_code}: {response.text[:200]}"
                )
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
                timings.append(response.json().get("timings") or {})
            else:
                errors.append(f"request {i}: HTTP {response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000.0
    return {
        "concurrency": concurrency,
        "sent": sent,
        "ok": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(seconds, 3),
        "requests_per_s": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
        "mean_ms": float(ms.mean()) if len(ms) else None,
        "server_ms": _server_means(timings),
        "statuses": {k: dict(sorted(v.items())) for k, v in sorted(statuses.items())},
        "unexpected": len(unexpected),
        "first_unexpected": unexpected[:5],
    }


def _server_means(timings: list[dict]) -> dict:
    """Means of the numeric ``timings`` fields the server put in its answers (e.g. queue_ms, generate_ms)."""
    keys = sorted({k for t in timings for k, v in t.items() if isinstance(v, int | float)})
    return {k: round(float(np.mean([t[k] for t in timings if k in t])), 2) for k in keys}


def run_load(
    url: str,
    payloads: Sequence[dict],
    *,
    concurrency: int,
    max_requests: int,
    time_limit_s: float,
    timeout_s: float = 120.0,
    expect: Sequence[int] | None = None,
) -> dict:
    """POST ``payloads`` (cycled; request ``i`` sends ``payloads[i % len]``) as JSON to ``url``.

    Returns counts, requests/s (answered with 200 per second of the run), latency percentiles in ms (of
    the 200s), ``server_ms`` (the means of the answers' ``timings``: the server's own queue / encode /
    generate split and batch size), ``statuses`` (expected class -> HTTP status or ``"no answer"`` ->
    count) and ``unexpected`` (answers outside their payload's ``expect`` class, with the first few)."""
    if not payloads:
        raise ValueError("run_load needs at least one payload")
    if expect is not None and len(expect) != len(payloads):
        raise ValueError(f"expect has {len(expect)} entries for {len(payloads)} payloads")
    with frozen_heap():
        return asyncio.run(
            _load(
                url,
                payloads,
                concurrency=concurrency,
                max_requests=max_requests,
                time_limit_s=time_limit_s,
                timeout_s=timeout_s,
                expect=expect,
            )
        )


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the caller's existing objects out of the garbage collector while the client measures.

    A benchmark driver that has trained a model holds ~700k objects; a full collection of them stops
    every client worker for ~0.3 s, and such a stall regroups closed-loop clients. The client's own
    garbage is still collected (``gc.freeze`` moves only the objects alive now out of reach).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
