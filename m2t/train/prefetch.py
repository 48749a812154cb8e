"""The next micro-batches made in a background thread while the current one trains.

Ray Data already prefetches raw rows (``iter_batches(prefetch_batches=...)``); what runs on the training
thread is the rest of :func:`m2t.train.batches.epochs`: the store reads of each record's embeddings, tokenizing,
collating. :func:`prefetch` runs that whole iterator in one background thread, a bounded queue ahead of the
consumer. One producer thread keeps the order, so training sees exactly the batches it would see without it
(resumes stay bit-identical). An exception in the producer is raised to the consumer at the point where it
occurred (after the batches made before it); :meth:`Prefetcher.close` stops the thread and closes the source.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
_ITEM, _END, _ERROR = range(3)
POLL_S = 0.1  # how often a producer blocked on a full queue checks for close()


class Prefetcher(Generic[T]):
    """Iterates ``source`` in a daemon thread, at most ``depth`` items ahead of the consumer."""

    def __init__(self, source: Iterator[T], *, depth: int):
        if depth < 1:
            raise ValueError(f"prefetch depth must be at least 1, got {depth}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, args=(source,), name="m2t-prefetch", daemon=True)
        self._thread.start()

    def _put(self, entry: tuple[int, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((_ITEM, item)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_ERROR, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (e.g. Ray Data's iterator), in the thread that ran it

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self._finished = True
        if kind == _ERROR:
            raise value  # type: ignore[misc]
        raise StopIteration

    def close(self, timeout: float = 10.0) -> None:
        """Stop the producer (it finishes the item it is making) and wait for it up to ``timeout`` seconds."""
        self._finished = True
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the prefetch thread did not stop within %.0f s (blocked in its source); leaving it", timeout)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetch(source: Iterator[T], *, depth: int) -> Iterator[T]:
    """``source`` made ``depth`` items ahead in a background thread; ``depth=0``: ``source`` itself, unchanged.
    Close the returned iterator (``.close()``) to stop the thread."""
    return Prefetcher(source, depth=depth) if depth > 0 else source
