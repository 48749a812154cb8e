"""Per-residue embedding store: safetensors shards + one Parquet index fragment per shard + a manifest.

A store is a directory on a local or shared file system, or a prefix on an object store (``s3://bucket/dir``,
``gs://bucket/dir``), all through :class:`m2t.storage.Location` (``pyarrow.fs``). Layout::

    manifest.json              encoder_id, hidden_size, dtype, counts, format_version
    shards/<name>.safetensors  one (L, D) tensor per sequence, named by sha256(sequence) hex
    index/<name>.parquet       key, shard, length: one row per tensor of shard <name>
    summary.json, rejects.jsonl   written by the embedding job

A shard is published whole (a temp name + ``os.replace`` locally, one completed upload on an object
store); its index fragment is published after it, and is the commit point: temp files and shards
without a fragment are ignored. Writers never rewrite a shared file, so concurrent writers cannot corrupt the store.
A sequence found in several fragments resolves to the first in name order (names start with
a nanosecond timestamp), so readers see every sequence once; ``counts.duplicates`` says how
many extra copies exist. Reads fetch only the bytes of the tensors asked for (ranged reads of the
safetensors header, cached per shard, then of each tensor), so a read costs the same on an object store.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from safetensors.torch import save

from m2t.embed import manifest as mf
from m2t.errors import M2TError
from m2t.storage import Location

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}
HEADERS_KEPT = 4096  # safetensors headers cached per store (about 6 KB each for 64 sequences a shard)


def sequence_key(sequence: str) -> str:
    """The store key of a sequence: sha256 hex of its residues."""
    return hashlib.sha256(sequence.encode()).hexdigest()


class EmbeddingStore:
    """Read and append per-residue embeddings of one encoder; see the module docstring for the layout."""

    def __init__(self, *, root: Location, manifest: dict):
        self.root = root
        self.manifest = manifest
        self._headers: dict[str, tuple[dict, int]] = {}
        self.refresh()

    # ---- opening -------------------------------------------------------------------------
    @staticmethod
    def exists(path: str | Path | Location) -> bool:
        """Whether a store (its manifest) is at ``path``."""
        return (Location.of(path) / mf.MANIFEST).is_file()

    @classmethod
    def open(cls, path: str | Path | Location) -> EmbeddingStore:
        """Open an existing store (:class:`m2t.errors.InputError` if there is none)."""
        root = Location.of(path)
        return cls(root=root, manifest=mf.read_manifest(root))

    @classmethod
    def create(
        cls, path: str | Path | Location, *, encoder_id: str, hidden_size: int, dtype: str = "float16"
    ) -> EmbeddingStore:
        """Create an empty store; refuses a directory that already holds one."""
        root = Location.of(path)
        if not mf.create_manifest(root, mf.new_manifest(encoder_id=encoder_id, hidden_size=hidden_size, dtype=dtype)):
            raise M2TError(f"an embedding store already exists at {root}; open it with EmbeddingStore.open_or_create")
        return cls.open(root)

    @classmethod
    def open_or_create(
        cls, path: str | Path | Location, *, encoder_id: str, hidden_size: int, dtype: str = "float16"
    ) -> EmbeddingStore:
        """Open the store at ``path``, creating it if absent; :class:`m2t.errors.MismatchError` if it was
        built with another encoder, hidden size or dtype."""
        root = Location.of(path)
        mf.create_manifest(root, mf.new_manifest(encoder_id=encoder_id, hidden_size=hidden_size, dtype=dtype))
        store = cls.open(root)
        store.check(encoder_id=encoder_id, hidden_size=hidden_size, dtype=dtype)
        return store

    def check(self, *, encoder_id: str, hidden_size: int, dtype: str | None = None) -> None:
        """:class:`m2t.errors.MismatchError` naming what differs if the store was built otherwise."""
        mf.check_same(self.root, self.manifest, encoder_id=encoder_id, hidden_size=hidden_size, dtype=dtype)

    @property
    def encoder_id(self) -> str:
        return self.manifest["encoder_id"]

    @property
    def hidden_size(self) -> int:
        return int(self.manifest["hidden_size"])

    @property
    def dtype(self) -> str:
        return self.manifest["dtype"]

    # ---- index ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the index, picking up shards that other writers published since opening."""
        self._entries: dict[str, tuple[str, int]] = {}
        self._duplicates = 0
        self._shards: set[str] = set()
        self._read: set[str] = set()  # index fragments already read
        self.catch_up()

    def catch_up(self) -> None:
        """Read only the index fragments published since the last look (a writer's cheap refresh before a shard)."""
        index = self.root / "index"
        new = [name for name in sorted(index.files(".parquet")) if name not in self._read]
        if not new:
            return
        # the new fragments in one read (parallel, which matters on an object store); sorted by shard name so that
        # the first writer wins whatever order the reader returns them in (shards read before win over these)
        table = pq.read_table(
            [(index / n).path for n in new], columns=["key", "shard", "length"], filesystem=self.root.fs
        )
        table = table.take(pc.sort_indices(table, [("shard", "ascending")])).to_pydict()
        self._read.update(new)
        for key, shard, length in zip(table["key"], table["shard"], table["length"], strict=True):
            self._shards.add(shard)
            if key in self._entries:
                self._duplicates += 1
            else:
                self._entries[key] = (shard, int(length))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, sequence: str) -> bool:
        return sequence_key(sequence) in self._entries

    def missing(self, sequences: Iterable[str]) -> list[str]:
        """The distinct sequences not in the store, in first-seen order."""
        seen: set[str] = set()
        out = []
        for seq in sequences:
            key = sequence_key(seq)
            if key not in self._entries and key not in seen:
                seen.add(key)
                out.append(seq)
        return out

    # ---- reading -------------------------------------------------------------------------
    def _entry(self, sequence: str) -> tuple[str, str, int]:
        key = sequence_key(sequence)
        if key not in self._entries:
            raise KeyError(
                f"sequence of length {len(sequence)} (sha256 {key[:12]}…) is not in embedding store "
                f"{self.root} (encoder {self.encoder_id}); embed it first: "
                f"`m2t embed --input <records> --output {self.root}`"
            )
        shard, length = self._entries[key]
        if length != len(sequence):
            raise M2TError(
                f"embedding store {self.root}: shard {shard} holds {length} residues for a sequence of "
                f"length {len(sequence)}; the store is damaged, rebuild it"
            )
        return key, shard, length

    def get(self, sequence: str) -> np.ndarray:
        """The ``(L, D)`` float32 embedding of ``sequence``; reads only its tensor from one shard."""
        return self.get_many([sequence])[0]

    def get_many(self, sequences: Sequence[str]) -> list[np.ndarray]:
        """``(L_i, D)`` float32 embeddings in input order; opens each shard involved once."""
        by_shard: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for i, seq in enumerate(sequences):
            key, shard, _ = self._entry(seq)
            by_shard[shard].append((i, key))
        out: list[np.ndarray | None] = [None] * len(sequences)
        for shard, wanted in by_shard.items():
            location = self.root / "shards" / f"{shard}.safetensors"
            with location.open_input() as fh:
                header, start = self._header(shard, fh)
                for i, key in wanted:
                    meta = header[key]
                    begin, end = meta["data_offsets"]
                    data = bytearray(fh.read_at(end - begin, start + begin))
                    if len(data) != end - begin:
                        raise M2TError(
                            f"embedding store shard {location} is truncated; the store is damaged, rebuild it"
                        )
                    tensor = torch.frombuffer(data, dtype=SAFETENSORS_DTYPES[meta["dtype"]]) if data else torch.zeros(0)
                    out[i] = tensor.reshape(meta["shape"]).float().numpy()
        return out  # type: ignore[return-value]

    def _header(self, shard: str, fh: pa.NativeFile) -> tuple[dict, int]:
        """``(tensors' metadata, offset of the data)`` of a shard, from the safetensors header (8-byte little-endian
        length, then JSON); cached, since shards are never rewritten."""
        if shard not in self._headers:
            if len(self._headers) >= HEADERS_KEPT:
                self._headers.clear()
            (size,) = struct.unpack("<Q", fh.read_at(8, 0))
            self._headers[shard] = (json.loads(fh.read_at(size, 8)), 8 + size)
        return self._headers[shard]

    # ---- writing -------------------------------------------------------------------------
    def write_shard(self, sequences: Sequence[str], embeddings: Sequence[torch.Tensor]) -> dict:
        """Publish one shard of ``(L_i, D)`` embeddings (cast to the store dtype); returns its stats
        ``{shard, sequences, residues, bytes}``. Repeats within the call are stored once."""
        tensors: dict[str, torch.Tensor] = {}
        for seq, emb in zip(sequences, embeddings, strict=True):
            if emb.ndim != 2 or emb.shape != (len(seq), self.hidden_size):
                raise M2TError(
                    f"embedding of shape {tuple(emb.shape)} for a sequence of length {len(seq)}; the store "
                    f"{self.root} expects (L, {self.hidden_size}) per sequence"
                )
            tensors.setdefault(sequence_key(seq), emb.detach().to("cpu", TORCH_DTYPES[self.dtype]).contiguous())
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        data = save(tensors, metadata={"encoder_id": self.encoder_id, "dtype": self.dtype})
        (self.root / "shards" / f"{name}.safetensors").write_bytes(data)
        keys = list(tensors)
        table = pa.table(
            {
                "key": pa.array(keys, pa.string()),
                "shard": pa.array([name] * len(keys), pa.string()),
                "length": pa.array([tensors[k].shape[0] for k in keys], pa.int32()),
            }
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        (self.root / "index" / f"{name}.parquet").write_bytes(sink.getvalue().to_pybytes())
        self._shards.add(name)
        self._read.add(f"{name}.parquet")
        for key in keys:  # this writer sees its own shard at once (older shards win repeats, as in refresh)
            if key in self._entries:
                self._duplicates += 1
            else:
                self._entries[key] = (name, tensors[key].shape[0])
        return {
            "shard": name,
            "sequences": len(keys),
            "residues": int(table["length"].to_numpy().sum()),
            "bytes": len(data),
        }

    def update_manifest(self) -> dict:
        """Recount the store from its index (after a refresh) and republish the manifest; returns the counts."""
        self.refresh()
        sizes = (self.root / "shards").files(".safetensors")
        lost = sorted(s for s in self._shards if f"{s}.safetensors" not in sizes)
        if lost:
            raise M2TError(
                f"embedding store {self.root}: {len(lost)} indexed shard(s) are missing (e.g. {lost[0]}); "
                "the store is damaged, rebuild it"
            )
        counts = {
            "sequences": len(self._entries),
            "residues": sum(n for _, n in self._entries.values()),
            "shards": len(self._shards),
            "duplicates": self._duplicates,
            "bytes": sum(sizes[f"{s}.safetensors"] for s in self._shards),
        }
        self.manifest = {**self.manifest, "counts": counts}
        mf.write_manifest(self.root, self.manifest)
        return counts
