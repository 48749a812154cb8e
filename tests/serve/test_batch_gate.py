"""The admission gate with Ray Serve's real ``@serve.batch``, inside a real replica, no HTTP.

The replica runs closed-loop clients on its own event loop (each sends its next request a few
milliseconds after its answer, as the load client does), so only the batcher and the gate decide
how batches form. The batched method "generates" by sleeping: the gate only sees when a batch
starts and ends.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from ray import cloudpickle, serve

from m2t.serve.gate import BatchGate

BATCH, WINDOW_S, GENERATE_S, RTT_S = 4, 0.1, 0.3, 0.005

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the replica cannot import a test module


@serve.deployment(max_ongoing_requests=4)
class GateLab:
    """``gated`` is wired as :class:`m2t.serve.app.M2TServer` wires it; ``ungated`` is plain ``@serve.batch``."""

    def __init__(self) -> None:
        self.gate = BatchGate(capacity=BATCH)
        self.sizes: list[int] = []

    async def closed_loop(self, *, gated: bool, clients: int, requests: int) -> dict:
        self.sizes = []

        async def client(c: int) -> list[int]:
            answers = []
            for k in range(requests):
                answers.append(await self.submit(c * 1000 + k, gated=gated))
                await asyncio.sleep(RTT_S)
            return answers

        answers = [a for got in await asyncio.gather(*(client(c) for c in range(clients))) for a in got]
        return {"answers": sorted(answers), "sizes": self.sizes, "busy": self.gate.busy, "queued": len(self.gate.queued)}

    async def cancel_while_queued(self) -> dict:
        """``BATCH - 1`` requests wait in the batch queue (window open) and are cancelled; then a full batch."""
        waiting = [asyncio.create_task(self.submit(i, gated=True)) for i in range(BATCH - 1)]
        while len(self.gate.queued) < BATCH - 1:
            await asyncio.sleep(0.001)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        queued_after_cancel = len(self.gate.queued)
        answers = await asyncio.wait_for(asyncio.gather(*(self.submit(i, gated=True) for i in range(10, 10 + BATCH))), 10)
        return {"queued_after_cancel": queued_after_cancel, "answers": list(answers)}

    async def submit(self, item: int, *, gated: bool) -> int:
        if not gated:
            return await self.ungated(item)
        async with self.gate.admit(item):
            return await self.gated(item)

    @serve.batch(max_batch_size=BATCH, batch_wait_timeout_s=WINDOW_S)
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
    yield serve.run(GateLab.bind(), name="gate-lab", route_prefix=None)
    serve.shutdown()


def test_closed_loop_clients_get_full_batches(lab):
    """6 clients, batches of 4: the 2 left over wait at the gate and fill up with the next answered clients."""
    got = lab.closed_loop.remote(gated=True, clients=6, requests=6).result(timeout_s=120)
    assert got["answers"] == sorted(-(c * 1000 + k) for c in range(6) for k in range(6))  # each answered once
    assert sum(got["sizes"]) == 36
    assert got["sizes"].count(BATCH) >= 8, got["sizes"]  # 36 = 9 x 4; the clients' last round may cut one
    assert not got["busy"] and got["queued"] == 0


def test_without_the_gate_the_overflow_forms_small_batches(lab):
    """Why the gate exists: Serve's batcher alone forms a 2-item batch while a 4-item batch generates,
    and the clients stay in those groups of 4 and 2."""
    got = lab.closed_loop.remote(gated=False, clients=6, requests=6).result(timeout_s=120)
    assert sum(got["sizes"]) == 36
    assert got["sizes"].count(BATCH) <= 7, got["sizes"]


def test_a_cancelled_request_gives_its_place_back(lab):
    got = lab.cancel_while_queued.remote().result(timeout_s=60)
    assert got["queued_after_cancel"] == 0
    assert got["answers"] == [-i for i in range(10, 10 + BATCH)]


@pytest.mark.parametrize("capacity", [1, 3])
def test_at_most_capacity_requests_wait_in_the_batch_queue(capacity):
    async def scenario() -> int:
        gate, most = BatchGate(capacity=capacity), 0

        async def one(i: int) -> None:
            nonlocal most
            async with gate.admit(i):
                most = max(most, len(gate.queued))
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one(i) for i in range(8)))
        return most

    assert asyncio.run(scenario()) == capacity
