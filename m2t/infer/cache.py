"""A least-recently-used cache of wild-type embeddings, shared by all requests of a replica.

Many requests ask about mutants of the same wild type (a scan, a clinic's favourite gene); its
per-residue embedding (with its log-probabilities, for the describer) is computed once and reused until
``capacity`` newer wild types push it out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")  # what is cached per sequence: an (L, d) embedding, or an (embedding, log-probs) pair


class EmbeddingLRU(Generic[V]):
    """Sequence -> its ``(L, d)`` embedding (or what ``embed`` returns per sequence), at most ``capacity`` entries
    (0 disables caching)."""

    def __init__(self, *, capacity: int) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, sequence: str) -> bool:
        return sequence in self._items

    def get_or_embed(self, sequences: Sequence[str], embed: Callable[[list[str]], list[V]]) -> list[V]:
        """Embeddings of ``sequences`` in order; the ones not cached go to ``embed`` in one call.

        Hits and misses count unique sequences; a repeated sequence within one call is embedded once.
        """
        unique = list(dict.fromkeys(sequences))
        found = {s: self._items[s] for s in unique if s in self._items}
        for s in found:
            self._items.move_to_end(s)
        missing = [s for s in unique if s not in found]
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            found.update(zip(missing, embed(missing), strict=True))
            for s in missing:
                self._put(s, found[s])
        return [found[s] for s in sequences]

    def _put(self, sequence: str, embedding: V) -> None:
        if self.capacity == 0:
            return
        self._items[sequence] = embedding
        self._items.move_to_end(sequence)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
