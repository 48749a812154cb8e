"""A bounded closed-loop HTTP load client (asyncio + httpx): ``concurrency`` workers, a request cap, a deadline.

Each worker sends its next request as soon as its previous one is answered. Sending stops when
``max_requests`` have been sent or ``time_limit_s`` has passed; requests in flight then finish
(each bounded by ``timeout_s``), so a run always ends by itself within ``time_limit_s + timeout_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx
import numpy as np


async def _load(url: str, payloads: Sequence[dict], *, concurrency: int, max_requests: int, time_limit_s: float,
                timeout_s: float) -> dict:
    latencies: list[float] = []
    timings: list[dict] = []
    errors: list[str] = []
    sent = 0
    deadline = time.perf_counter() + time_limit_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            body = payloads[sent % len(payloads)]
            sent += 1
            started = time.perf_counter()
            try:
                response = await client.post(url, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
                timings.append(response.json().get("timings") or {})
            else:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000.0
    return {"concurrency": concurrency, "sent": sent, "ok": len(latencies), "errors": len(errors),
            "first_error": errors[0] if errors else None, "seconds": round(seconds, 3),
            "requests_per_s": len(latencies) / seconds if seconds else 0.0,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
            "mean_ms": float(ms.mean()) if len(ms) else None, "server_ms": _server_means(timings)}


def _server_means(timings: list[dict]) -> dict:
    """Means of the numeric ``timings`` fields the server put in its answers (e.g. queue_ms, generate_ms)."""
    keys = sorted({k for t in timings for k, v in t.items() if isinstance(v, int | float)})
    return {k: round(float(np.mean([t[k] for t in timings if k in t])), 2) for k in keys}


def run_load(url: str, payloads: Sequence[dict], *, concurrency: int, max_requests: int, time_limit_s: float,
             timeout_s: float = 120.0) -> dict:
    """POST ``payloads`` (cycled) as JSON to ``url``; returns counts, requests/s (answered with 200 per second
    of the run), latency percentiles in ms (of the 200s) and ``server_ms``: the means of the answers'
    ``timings`` (the server's own queue / encode / generate split and batch size)."""
    if not payloads:
        raise ValueError("run_load needs at least one payload")
    return asyncio.run(_load(url, payloads, concurrency=concurrency, max_requests=max_requests,
                             time_limit_s=time_limit_s, timeout_s=timeout_s))
