"""Writers SIGKILLed mid-write (real processes): the next reader sees complete shards / parts only,
never a torn one, and a rerun fills in exactly what is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pytest
import torch

from m2t.embed.store import EmbeddingStore
from m2t.infer.parts import PartStore

D = 16
RUN = {"checkpoint": "ckpt", "max_new_tokens": 4}

WRITER = textwrap.dedent("""
    import sys, torch, pyarrow as pa
    from m2t.embed.store import EmbeddingStore
    from m2t.infer.parts import PartStore
    def sequence(i, j):  # unique per (shard i, item j)
        return "M" + "ACDEFGHIKL"[j % 10] * (50 + j * 7) + "Y" + "".join("ACDEFGHIKL"[int(c)] for c in str(i)) + "W"
    store = EmbeddingStore.open_or_create(sys.argv[1], encoder_id="enc:kill", hidden_size={D}, dtype="float32")
    parts = PartStore(root=sys.argv[2], run={RUN!r})
    i = 0
    while True:  # big shards so a kill often lands inside a write
        seqs = [sequence(i, j) for j in range(40)]
        store.write_shard(seqs, [torch.arange(len(s) * {D}, dtype=torch.float32).reshape(len(s), {D}) + len(s)
                                 for s in seqs])
        parts.write(pa.table({{"id": [f"r{{i}}-{{j}}" for j in range(2000)], "wild_type_id": ["w"] * 2000,
                              "mutations": [["K2R"]] * 2000, "description": ["x" * 200] * 2000}}))
        i += 1
        print(i, flush=True)
""").format(D=D, RUN=RUN)


def sequence(i: int, j: int) -> str:
    """The writer's sequence j of shard i (same rule as WRITER)."""
    return "M" + "ACDEFGHIKL"[j % 10] * (50 + j * 7) + "Y" + "".join("ACDEFGHIKL"[int(c)] for c in str(i)) + "W"


def expected(seq: str) -> np.ndarray:
    return (torch.arange(len(seq) * D, dtype=torch.float32).reshape(len(seq), D) + len(seq)).numpy()


@pytest.mark.parametrize("delay", [1.0])
def test_sigkilled_writer_leaves_old_or_new_complete_state(tmp_path, delay):
    store_dir, parts_dir = tmp_path / "store", tmp_path / "out" / "parts"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store_dir), str(parts_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (store_dir / "index").is_dir() or not any((store_dir / "index").glob("[!.]*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = EmbeddingStore.open(store_dir)
    assert len(store) > 0
    keys = list(store._entries)  # every indexed sequence must load in full
    shards = {store._entries[k][0] for k in keys}
    assert all((store_dir / "shards" / f"{s}.safetensors").is_file() for s in shards)
    # reload by sequence: rebuild the sequences of the published index from the writer's rule
    seen, i = 0, 0
    while present := [s for s in (sequence(i, j) for j in range(40)) if s in store]:
        assert len(present) == 40  # a shard is in the index whole or not at all
        for s in present:
            np.testing.assert_array_equal(store.get(s), expected(s))
        seen, i = seen + len(present), i + 1
    assert seen == len(store)
    counts = store.update_manifest()
    assert counts["sequences"] == len(store)

    parts = PartStore(root=parts_dir, run=RUN)  # the rerun: stale temp files go, published parts stay readable
    assert list(parts_dir.glob(".part-*.tmp")) == []
    table = parts.read_all()
    assert len(table) == 2000 * len(parts.files()) and len(table) > 0
    assert set(table.column("description").to_pylist()) == {"x" * 200}
    parts.write(pa.table({"id": ["new"], "wild_type_id": ["w"], "mutations": [["K2R"]], "description": ["y"]}))
    assert len(PartStore(root=parts_dir, run=RUN).read_all()) == len(table) + 1
