"""Serving on two Ray nodes, a replica on each, and one node lost under a bounded load.

Each node (3 CPUs) holds one 2-CPU replica; the HTTP proxy runs on the head (``proxy_location="HeadOnly"``: the
nodes share this machine's ports). Six clients send describes back to back; the test kills one replica's node (its
raylet and every process on it, at once) and adds a fresh node. The endpoint keeps answering through the other
replica. No request takes longer than ``serve.request_timeout_s`` (plus a little for the client), and requests fail
only within FAILOVER_S of the loss: those in flight on the lost replica, and those routed to it until Ray marks the
silent node dead (missed heartbeats) and Serve stops routing there. Serve then starts a replacement replica on the
fresh node."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from conftest import actor_nodes

from m2t.bench.apps import bench_checkpoint, free_port, wait_healthy
from m2t.config import load_config
from m2t.serve.app import make_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
NODES = [{"num_cpus": 3}, {"num_cpus": 3}]
TIMEOUT_S = 20.0  # serve.request_timeout_s
FAILOVER_S = 30.0  # failures are allowed only this long after the node loss (measured: 3 s)
CLIENTS = 6
BODY = {"wild_type": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "mutations": "K2R"}
APP = "m2t-nodes"


def test_serving_on_two_nodes_keeps_answering_when_one_is_lost(nodes, tmp_path):
    from ray import serve

    cfg = load_config(
        None,
        [
            "serve.min_replicas=2",
            "serve.max_replicas=2",
            "serve.cpus_per_replica=2",
            f"serve.request_timeout_s={TIMEOUT_S}",
            "serve.health_check_period_s=1",
            "generation.max_new_tokens=8",
        ],
    )
    checkpoint = bench_checkpoint(cfg, tmp_path / "checkpoint")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log: list[tuple[float, float, int | str]] = []  # (sent, seconds, status)
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=3 * TIMEOUT_S) as http:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    status: int | str = http.post(f"{url}/v1/describe", json=BODY).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                log.append((sent, time.monotonic() - sent, status))

    serve.start(
        proxy_location="HeadOnly",
        http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": TIMEOUT_S},
    )
    try:
        serve.run(make_app(cfg, checkpoint), name=APP, route_prefix="/")
        wait_healthy(url)
        replicas = actor_nodes(f"ServeReplica:{APP}")
        assert len(set(replicas.values())) == 2, replicas  # one replica on each node
        clients = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
        for t in clients:
            t.start()
        time.sleep(5)
        lost_node = sorted(set(replicas.values()))[0]
        lost = nodes.remove(nodes.node(lost_node))
        fresh = nodes.add(num_cpus=3)
        time.sleep(FAILOVER_S + 10)
        stop.set()
        for t in clients:
            t.join(timeout=3 * TIMEOUT_S)
        deadline = time.monotonic() + 120
        while fresh.node_id not in actor_nodes(f"ServeReplica:{APP}").values() and time.monotonic() < deadline:
            time.sleep(1)
        replaced = set(actor_nodes(f"ServeReplica:{APP}").values())
    finally:
        serve.shutdown()

    assert log and all(seconds <= TIMEOUT_S + 5 for _, seconds, _ in log), max(s for _, s, _ in log)
    failed = [(sent - lost, seconds, status) for sent, seconds, status in log if status != 200]
    assert all(0 <= sent + seconds <= FAILOVER_S for sent, seconds, _ in failed), failed  # only in the window
    assert all(status in (408, 500, 502, 503, 504) for *_, status in failed), failed  # a server's answer, never a hang
    during = [s for sent, _, s in log if lost <= sent <= lost + FAILOVER_S]
    after = [s for sent, _, s in log if sent > lost + FAILOVER_S]
    assert during.count(200) > 0 and after and set(after) == {200}, (during, after)  # it kept answering
    assert replaced == {fresh.node_id} | (
        set(replicas.values()) - {lost_node}
    )  # the replacement runs on the fresh node
    print(
        f"serve: {len(log)} requests, {len(failed)} failed {sorted({s for *_, s in failed})} within "
        f"{max((s + d for s, d, _ in failed), default=0):.1f} s of the node loss; longest {max(d for _, d, _ in log):.1f} s"
    )
