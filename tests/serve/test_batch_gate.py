"""The admission gate with Ray Serve's real ``@serve.batch``, inside a real replica, no HTTP.

The replica runs closed-loop clients on its own event loop (each sends its next request a few
milliseconds after its answer, as the load client does), so only the batcher and the gate decide
how batches form. The batched method "generates" by sleeping: the gate only sees when a batch
starts and ends.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from ray import cloudpickle, serve

from m2t.serve.gate import BATCHER_WINDOW_S, BatchGate

BATCH, WINDOW_S, GENERATE_S, RTT_S = 4, 0.1, 0.3, 0.005

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the replica cannot import a test module


@serve.deployment(max_ongoing_requests=4)
class GateLab:
    """``gated`` is wired as :class:`m2t.serve.app.M2TServer` wires it; ``ungated`` is plain ``@serve.batch``
    with a ``WINDOW_S`` window."""

    def __init__(self, max_wait_s: float) -> None:
        self.gate = BatchGate(capacity=BATCH, max_wait_s=max_wait_s)
        self.sizes: list[int] = []

    async def closed_loop(self, *, gated: bool, clients: int, requests: int, rtt_s: float = RTT_S) -> dict:
        """Every request's answer, the batch sizes, and the mean seconds from a request to its answer."""
        self.sizes, latencies = [], []

        async def client(c: int) -> list[int]:
            answers = []
            for k in range(requests):
                started = time.monotonic()
                answers.append(await self.submit(c * 1000 + k, gated=gated))
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(rtt_s)
            return answers

        answers = [a for got in await asyncio.gather(*(client(c) for c in range(clients))) for a in got]
        return {
            "answers": sorted(answers),
            "sizes": self.sizes,
            "busy": self.gate.busy,
            "queued": len(self.gate.queued),
            "inside": self.gate.inside,
            "mean_latency_s": sum(latencies) / len(latencies),
        }

    async def cancel_at_the_gate(self) -> dict:
        """While a batch generates, ``BATCH - 1`` requests wait at the gate and are cancelled; then a full batch."""
        running = [asyncio.create_task(self.submit(i, gated=True)) for i in range(BATCH)]
        while not self.gate.busy:
            await asyncio.sleep(0.001)
        waiting = [asyncio.create_task(self.submit(i, gated=True)) for i in range(100, 100 + BATCH - 1)]
        await asyncio.sleep(0.01)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        inside_after_cancel = self.gate.inside
        await asyncio.gather(*running)
        self.sizes = []
        answers = await asyncio.wait_for(
            asyncio.gather(*(self.submit(i, gated=True) for i in range(10, 10 + BATCH))), 10
        )
        return {
            "inside_after_cancel": inside_after_cancel,
            "answers": list(answers),
            "sizes": self.sizes,
            "queued": len(self.gate.queued),
        }

    async def submit(self, item: int, *, gated: bool) -> int:
        if not gated:
            return await self.ungated(item)
        async with self.gate.admit(item):
            return await self.gated(item)

    @serve.batch(max_batch_size=BATCH, batch_wait_timeout_s=BATCHER_WINDOW_S)
    async def gated(self, items: list[int]) -> list[int]:
        async with self.gate.generating(items):
            return await self._generate(items)

    @serve.batch(max_batch_size=BATCH, batch_wait_timeout_s=WINDOW_S)
    async def ungated(self, items: list[int]) -> list[int]:
        return await self._generate(items)

    async def _generate(self, items: list[int]) -> list[int]:
        self.sizes.append(len(items))
        await asyncio.sleep(GENERATE_S)
        return [-i for i in items]


@pytest.fixture(scope="module")
def lab(ray_cluster):
    serve.start(http_options={"host": "127.0.0.1", "port": 0})
    yield serve.run(GateLab.bind(max_wait_s=WINDOW_S), name="gate-lab", route_prefix=None)
    serve.shutdown()


def run(lab, **kw) -> dict:
    return lab.closed_loop.remote(**kw).result(timeout_s=120)


def test_closed_loop_clients_get_full_batches(lab):
    """6 clients, batches of 4: the 2 left over wait at the gate and fill up with the next answered clients."""
    got = run(lab, gated=True, clients=6, requests=6)
    assert got["answers"] == sorted(-(c * 1000 + k) for c in range(6) for k in range(6))  # each answered once
    assert sum(got["sizes"]) == 36
    assert got["sizes"].count(BATCH) >= 8, got["sizes"]  # 36 = 9 x 4; the very first request may go alone
    assert not got["busy"] and got["queued"] == 0 and got["inside"] == 0


def test_without_the_gate_the_overflow_forms_small_batches(lab):
    """Why the gate exists: Serve's batcher alone forms a 2-item batch while a 4-item batch generates,
    and the clients stay in those groups of 4 and 2."""
    got = run(lab, gated=False, clients=6, requests=6)
    assert sum(got["sizes"]) == 36
    assert got["sizes"].count(BATCH) <= 7, got["sizes"]


def test_clients_slower_than_the_window_are_still_merged(lab):
    """Clients that come back 60 ms after their answer (more than half the 100 ms wait, and 12x the batcher's
    own window): the gate waits for the clients it has seen, so batches still fill."""
    got = run(lab, gated=True, clients=6, requests=5, rtt_s=0.06)
    assert sum(got["sizes"]) == 30
    assert got["sizes"].count(BATCH) >= 6, got["sizes"]  # 30 = 7 x 4 + 2


def test_a_lone_client_does_not_wait_for_a_batch(lab):
    """One client: each request goes straight into a batch of 1, with no wait for company."""
    got = run(lab, gated=True, clients=1, requests=4)
    assert got["sizes"] == [1, 1, 1, 1]
    assert got["mean_latency_s"] < GENERATE_S + WINDOW_S / 2, got[
        "mean_latency_s"
    ]  # the ungated batcher waits WINDOW_S


def test_a_cancelled_request_gives_its_place_back(lab):
    got = lab.cancel_at_the_gate.remote().result(timeout_s=60)
    assert got["inside_after_cancel"] == BATCH  # the running batch only; the cancelled ones left the gate
    assert got["answers"] == [-i for i in range(10, 10 + BATCH)]
    assert got["queued"] == 0


def test_the_gate_releases_at_most_capacity_and_waits_at_most_max_wait():
    """A gate alone, 8 requests at once, each holding its place 10 ms (no batches behind it): groups of
    ``capacity``, then the last 2 wait ``max_wait_s`` for a third that does not come."""

    async def scenario() -> list[tuple[int, float]]:
        gate, entered = BatchGate(capacity=3, max_wait_s=0.05), []
        started = time.monotonic()

        async def one(i: int) -> None:
            async with gate.admit(i):
                entered.append((len(gate.queued), time.monotonic() - started))
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one(i) for i in range(8)))
        return entered

    entered = asyncio.run(scenario())
    assert [n for n, _ in entered] == [3, 3, 3, 3, 3, 3, 2, 2]  # places taken when each entered: groups 3, 3, 2
    assert entered[-1][1] >= 0.05 and entered[-3][1] < 0.05


def test_clients_seen_are_forgotten_after_memory_s():
    """After a burst of 6, a request arriving ``memory_s`` later expects no company and is released at once."""

    async def scenario() -> tuple[int, float]:
        gate = BatchGate(capacity=4, max_wait_s=1.0, memory_s=0.05)

        async def one(i: int) -> None:
            async with gate.admit(i):
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one(i) for i in range(6)))  # 6 seen: 4 released at once, the last 2 wait out max_wait
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await one(99)
        return gate.expected(asyncio.get_running_loop().time()), time.monotonic() - started

    expected, seconds = asyncio.run(scenario())
    assert expected == 1
    assert seconds < 0.5, seconds  # not the 1 s max_wait: the burst of 6 is forgotten
