"""The admission gate in front of ``@serve.batch``: it decides when the next batch forms, and from whom.

Ray Serve's batcher on its own forms a batch from the arrivals of one ``batch_wait_timeout_s``
window, counted from the first arrival, even while an earlier batch still generates. That fails
closed-loop clients (each sends its next request when answered) in two ways:

- *Groups.* Arrivals beyond one full batch form a small batch of their own while the full one
  generates; answered together, those clients come back together and stay a small group. At 32
  clients and batches of 16 the replica ran batches of 1, 7, 8 and 16, about a quarter fewer
  requests per second than with full batches.
- *Waiting for nobody.* A lone client always waits the whole window (at concurrency 1 the batched
  app served 0.57x the requests/s of the unbatched one).

The gate holds each request until the replica is free, then lets a batch's worth into the batch
queue at once: as soon as as many requests wait as the clients seen lately (the most requests inside
the replica at one time over the last ``memory_s``, capped at ``capacity``), or when the first of them
has waited ``max_wait_s`` since the replica became free. A lone client goes straight through; 32
clients make batches of 16, and the clients of a small batch are waited for and merged into the next.
The batcher's own window then only has to collect the requests released together (1 ms).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager

BATCHER_WINDOW_S = 0.001  # @serve.batch's own window: the released requests all enqueue within one loop turn


class BatchGate:
    """``admit(key)`` around each request's call of the batched method, ``generating(keys)`` around its body.

    All methods run on the replica's event loop (no locks needed); times are the loop's clock.
    """

    def __init__(self, *, capacity: int, max_wait_s: float, memory_s: float = 1.0) -> None:
        self.capacity, self.max_wait_s, self.memory_s = capacity, max_wait_s, memory_s
        self.busy = False  # a batch is generating
        self.queued: set[Hashable] = set()  # released into the batch queue, not yet generating
        self.inside = 0  # requests between admit and their answer
        self._waiting: dict[Hashable, tuple[float, asyncio.Future]] = {}  # at the gate, in arrival order
        self._peaks: deque[tuple[float, int]] = deque()  # (time, inside): decreasing, for the recent maximum
        self._free_since = 0.0  # when the last batch ended
        self._timer: asyncio.TimerHandle | None = None
        self._soon: asyncio.Handle | None = None

    @property
    def waiting(self) -> int:
        """Requests at the gate now."""
        return len(self._waiting)

    @asynccontextmanager
    async def admit(self, key: Hashable) -> AsyncIterator[None]:
        """Wait at the gate until released (see the module doc); a request cancelled or failed before
        its batch started gives its place back on the way out."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.inside += 1
        while self._peaks and self._peaks[-1][1] <= self.inside:
            self._peaks.pop()
        self._peaks.append((now, self.inside))
        future = loop.create_future()
        self._waiting[key] = (now, future)
        try:
            self._release_soon()
            await future
            yield
        finally:
            self.inside -= 1
            if self._waiting.pop(key, None) is not None or key in self.queued:
                self.queued.discard(key)
                self._release_soon()

    @asynccontextmanager
    async def generating(self, keys: Iterable[Hashable]) -> AsyncIterator[None]:
        """The batch of ``keys`` generates: the gate stays shut until it ends (or fails)."""
        self.busy = True
        self.queued.difference_update(keys)
        try:
            yield
        finally:
            self.busy = False
            self._free_since = asyncio.get_running_loop().time()
            self._release_soon()

    def expected(self, now: float) -> int:
        """The clients to expect: the most requests inside the replica at one time over the last ``memory_s``."""
        while self._peaks and self._peaks[0][0] < now - self.memory_s:
            self._peaks.popleft()
        return max(self.inside, self._peaks[0][1] if self._peaks else 0, 1)

    def _release_soon(self) -> None:
        """Decide at the end of this loop turn, so requests arriving together (the items of one
        ``/v1/describe:batch`` call) are counted together."""
        if self._soon is None:
            self._soon = asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        """Release the next batch into the batch queue if it is time, else set a timer for its deadline."""
        self._soon = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.busy or self.queued or not self._waiting:
            return  # a batch generates or is forming; it releases the next one when it ends
        loop = asyncio.get_running_loop()
        now = loop.time()
        first_arrival = next(iter(self._waiting.values()))[0]
        deadline = max(first_arrival, self._free_since) + self.max_wait_s
        if len(self._waiting) < min(self.capacity, self.expected(now)) and now < deadline:
            self._timer = loop.call_at(deadline, self._release)
            return
        for key in list(self._waiting)[: self.capacity]:
            _, future = self._waiting.pop(key)
            if not future.done():  # done = its request was cancelled and is on its way out
                self.queued.add(key)
                future.set_result(None)
