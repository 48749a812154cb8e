"""The bounded load test of the Serve app: valid and invalid requests mixed, every answer checked, memory watched.

:func:`run_loadtest` deploys the real app (:func:`m2t.serve.app.make_app`) on 127.0.0.1 and warms it
up with ``warmup`` requests of the same mix, which are not counted: the replica's allocator grows to its
working size over the first few hundred batches of mixed sizes, then stays flat. It then sends
``requests`` POSTs to ``/v1/describe`` at ``concurrency`` through the bounded client of
:mod:`m2t.bench.load` (it stops by itself: a request cap, a deadline and a per-request timeout).
Every ``1 / invalid_share``-th request is one of :func:`invalid_requests`, each of which must be
refused with a 4xx; the others are MutaDescribe-shaped records that must get a 200. Meanwhile a
thread samples the resident memory (RSS) of the replica and HTTP-proxy processes of this machine.

Checks: zero 5xx, every request answered, every invalid one refused with a 4xx, every valid one
answered 200, and RSS growth from the first to the last quarter of the run under ``max_rss_growth``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil

from m2t.bench.apps import bench_checkpoint, served
from m2t.bench.inputs import benchmark_records, describe_inputs
from m2t.bench.load import NO_ANSWER, run_load
from m2t.bench.machine import machine_info
from m2t.config import Config
from m2t.data.records import Record
from m2t.infer.describer import finetuned_checkpoint

APP = "load"  # route prefix; the Serve app is "m2t-bench-load" (see m2t.bench.apps.served)
WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"  # K at 2, A at 4


def invalid_requests(cfg: Config) -> list[tuple[str, dict | str]]:
    """(what is wrong, body) pairs the server must refuse with a 4xx: schema, notation, sequence and limit errors."""
    s = cfg.serve
    return [
        ("residue that is not an amino acid", {"wild_type": "MKTAY1AKQR", "mutations": "K2R"}),
        ("notation disagrees with the wild type", {"wild_type": WT, "mutations": "A2R"}),
        ("position past the end", {"wild_type": WT, "mutations": "K200R"}),
        ("unparseable notation", {"wild_type": WT, "mutations": "not-a-mutation"}),
        ("both mutations and mutant", {"wild_type": WT, "mutations": "K2R", "mutant": WT}),
        ("neither mutations nor mutant", {"wild_type": WT}),
        ("mutant identical to the wild type", {"wild_type": WT, "mutant": WT}),
        ("wrong type", {"wild_type": 42, "mutations": "K2R"}),
        ("null wild type", {"wild_type": None, "mutations": "K2R"}),
        ("unknown field", {"wild_type": WT, "mutations": "K2R", "temprature": 0.5}),
        (
            "max_new_tokens over the limit",
            {"wild_type": WT, "mutations": "K2R", "max_new_tokens": s.max_new_tokens_limit + 1},
        ),
        ("sequence over max_length", {"wild_type": "A" * (cfg.data.max_length + 1), "mutations": "A1G"}),
        ("body over max_body_bytes", {"wild_type": "A" * (s.max_body_bytes + 1), "mutations": "A1G"}),
        ("not a JSON object", "K2R"),
    ]


def mixed_requests(
    cfg: Config, records: list[Record], *, requests: int, invalid_share: float
) -> tuple[list, list[int], list[str]]:
    """``requests`` bodies in sending order (``records`` cycled, with every ``1 / invalid_share``-th one invalid),
    the status class each must get (200 or 400) and what each is."""
    valid = [{"wild_type": r.wild_type, "mutations": list(r.mutations)} for r in records]
    invalid = invalid_requests(cfg)
    every = max(1, round(1 / invalid_share)) if invalid_share > 0 else 0
    bodies, expect, kinds = [], [], []
    for i in range(requests):
        if every and i % every == every - 1:
            (kind, body), status = invalid[(i // every) % len(invalid)], 400
        else:
            kind, body, status = "valid", valid[i % len(valid)], 200
        bodies.append(body)
        expect.append(status)
        kinds.append(kind)
    return bodies, expect, kinds


def serve_processes(app: str) -> dict[str, list[psutil.Process]]:
    """This machine's Ray Serve processes by role: the replicas of ``app`` and the HTTP proxy (by process title)."""
    found: dict[str, list[psutil.Process]] = {"replica": [], "proxy": []}
    for proc in psutil.process_iter(["cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if f"ServeReplica:{app}:" in title:
            found["replica"].append(proc)
        elif "ProxyActor" in title:
            found["proxy"].append(proc)
    return found


@contextmanager
def rss_sampler(app: str, *, every_s: float = 0.25) -> Iterator[list[tuple[float, dict[str, int]]]]:
    """Yield a list that fills with ``(time, {role: RSS bytes summed over the role's processes})`` while the block runs."""
    procs = {role: members for role, members in serve_processes(app).items() if members}  # roles found here
    if "replica" not in procs:
        raise RuntimeError(f"no replica process of the Serve app {app!r} found on this machine")
    samples: list[tuple[float, dict[str, int]]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = {}
            for role, members in procs.items():
                try:
                    rss[role] = sum(p.memory_info().rss for p in members)
                except psutil.Error:  # a process went away: leave the sample out
                    rss = None
                    break
            if rss is not None:
                samples.append((time.perf_counter(), rss))
            stop.wait(every_s)

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def rss_growth(samples: list[tuple[float, dict[str, int]]], role: str) -> dict:
    """Mean RSS (MiB) of the first and the last quarter of the sampled time, and the relative growth
    (``None``, with ``why``, when the run was too short to compare its quarters)."""
    if len(samples) < 8:
        return {
            "growth": None,
            "samples": len(samples),
            "why": f"only {len(samples)} RSS samples: the run was too short to compare its quarters; send more requests",
        }
    t0, t1 = samples[0][0], samples[-1][0]
    quarter = (t1 - t0) / 4
    first = [s[role] for t, s in samples if t <= t0 + quarter]
    last = [s[role] for t, s in samples if t >= t1 - quarter]
    mib = 2**20
    early, late = float(np.mean(first)) / mib, float(np.mean(last)) / mib
    return {
        "first_quarter_mib": round(early, 1),
        "last_quarter_mib": round(late, 1),
        "growth": round((late - early) / early, 4),
        "max_mib": round(max(s[role] for _, s in samples) / mib, 1),
        "samples": len(samples),
    }


def summarize(load: dict, *, requests: int, max_rss_growth: float, rss: dict) -> dict:
    """The checks of the run, from the load client's counts and the RSS growth per role."""
    statuses = load["statuses"]
    counts = {klass: sum(statuses.get(klass, {}).values()) for klass in ("2xx", "4xx")}
    every = [code for by in statuses.values() for code in by]
    answered = sum(n for by in statuses.values() for code, n in by.items() if code != NO_ANSWER)
    checks = {
        "every_request_sent": load["sent"] == requests,
        "every_request_answered": answered == load["sent"],
        "zero_5xx": not any(code.startswith("5") for code in every),
        "invalid_refused_4xx": set(statuses.get("4xx", {})) <= {str(c) for c in range(400, 500)},
        "valid_answered_200": set(statuses.get("2xx", {})) <= {"200"},
        "rss_growth_under_limit": all(r["growth"] is not None and r["growth"] < max_rss_growth for r in rss.values()),
    }
    return {
        "checks": checks,
        "passed": all(checks.values()),
        "valid_sent": counts["2xx"],
        "invalid_sent": counts["4xx"],
    }


def rss_mib(procs: list[psutil.Process]) -> float:
    return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)


def run_loadtest(
    cfg: Config,
    *,
    workdir: Path,
    checkpoint: Path | None = None,
    requests: int = 2000,
    concurrency: int = 32,
    invalid_share: float = 0.25,
    warmup: int = 500,
    max_rss_growth: float = 0.10,
    timeout_s: float = 60.0,
    time_limit_s: float = 1200.0,
) -> dict:
    """Run the load test on the Ray cluster this process is connected to (it starts and shuts down Ray Serve).

    ``checkpoint`` None = an untrained stage-2 checkpoint of ``cfg`` written under ``workdir``.
    Returns the result object (``passed`` plus each check, counts per status, latency, RSS per role).
    """
    path = (
        finetuned_checkpoint(cfg, checkpoint)
        if checkpoint is not None
        else bench_checkpoint(cfg, workdir / "checkpoint")
    )
    records = benchmark_records(wild_types=40, length_scale=0.25)
    bodies, expect, kinds = mixed_requests(cfg, records, requests=requests, invalid_share=invalid_share)
    with served({APP: cfg}, path) as urls:
        url, app = f"{urls[APP]}/v1/describe", f"m2t-bench-{APP}"
        started_mib = rss_mib(serve_processes(app)["replica"])
        if warmup:
            run_load(
                url,
                bodies,
                concurrency=concurrency,
                max_requests=warmup,
                time_limit_s=time_limit_s,
                timeout_s=timeout_s,
            )
        warm_mib = rss_mib(serve_processes(app)["replica"])
        with rss_sampler(app) as samples:
            load = run_load(
                url,
                bodies,
                concurrency=concurrency,
                max_requests=requests,
                time_limit_s=time_limit_s,
                timeout_s=timeout_s,
                expect=expect,
            )
    roles = list(samples[0][1]) if samples else ["replica"]  # the roles found on this machine
    rss = {role: rss_growth(samples, role) for role in roles}
    rss["replica"] |= {"at_start_mib": started_mib, "after_warmup_mib": warm_mib}
    return {
        "test": "bounded load",
        **summarize(load, requests=requests, max_rss_growth=max_rss_growth, rss=rss),
        "requests": requests,
        "concurrency": concurrency,
        "invalid_share": invalid_share,
        "warmup_requests": warmup,
        "invalid_kinds": sorted(set(kinds) - {"valid"}),
        "max_rss_growth": max_rss_growth,
        "client_timeout_s": timeout_s,
        "rss": rss,
        "load": {
            k: load[k]
            for k in (
                "sent",
                "ok",
                "seconds",
                "requests_per_s",
                "p50_ms",
                "p99_ms",
                "mean_ms",
                "statuses",
                "unexpected",
                "first_unexpected",
                "server_ms",
            )
        },
        "inputs": {
            "checkpoint": str(checkpoint) if checkpoint else "untrained stage-2 checkpoint of the config",
            "valid": describe_inputs(records),
            "max_batch_size": cfg.serve.max_batch_size,
            "max_new_tokens": cfg.generation.max_new_tokens,
        },
        "machine": machine_info(),
    }
