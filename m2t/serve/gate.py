"""The admission gate in front of ``@serve.batch``: every batch is formed while the replica is free.

Ray Serve's batcher forms a batch from the arrivals of one ``batch_wait_timeout_s`` window even
while an earlier batch still generates (the next batch then waits for it). On a busy replica that
splits the requests into small batches, and closed-loop clients, answered together, come back
together and stay in those small groups: at 32 clients and batches of 16, the replica ran batches
of 1, 7, 8 and 16 and served about a quarter fewer requests per second than with full batches.

The gate lets a request into the batch queue only while no batch generates and fewer than
``capacity`` (the batch size) requests wait there. So a batch is formed when the replica is free,
from the requests waiting at the gate plus those arriving within the window, and a full batch's
overflow waits at the gate for the next batch instead of forming a small one of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager


class BatchGate:
    """``admit(key)`` around each request's call of the batched method, ``generating(keys)`` around its body."""

    def __init__(self, *, capacity: int) -> None:
        self.capacity = capacity
        self.busy = False  # a batch is generating
        self.queued: set[Hashable] = set()  # admitted, not yet in a generating batch
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def admit(self, key: Hashable) -> AsyncIterator[None]:
        """Wait until the replica is free and the queue has room, then hold a place until the batch takes it.

        A request cancelled or failed before its batch started gives its place back on the way out.
        """
        async with self._changed:
            await self._changed.wait_for(lambda: not self.busy and len(self.queued) < self.capacity)
            self.queued.add(key)
        try:
            yield
        finally:
            if key in self.queued:
                self.queued.discard(key)
                await self._notify()

    @asynccontextmanager
    async def generating(self, keys: Iterable[Hashable]) -> AsyncIterator[None]:
        """The batch of ``keys`` generates: the gate stays shut until it ends (or fails)."""
        self.busy = True
        self.queued.difference_update(keys)
        try:
            yield
        finally:
            self.busy = False
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
