"""Writers SIGKILLed mid-write (real processes): the next reader sees complete shards / parts /
checkpoints only, never a torn one, and a rerun fills in exactly what is missing."""

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
from safetensors.torch import load_file

from m2t.atomic import publish_dir
from m2t.config import load_config
from m2t.embed.store import EmbeddingStore
from m2t.infer.parts import SCHEMA as PARTS_SCHEMA
from m2t.infer.parts import PartStore
from m2t.model import build_model, load_checkpoint, save_checkpoint

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
                              "mutations": [["K2R"]] * 2000, "window_start": [None] * 2000,
                              "description": ["x" * 200] * 2000, "effect_score": [-0.5] * 2000,
                              "effect_score_note": [None] * 2000,
                              "effect_score_source": ["unirep-llr (unirep:64)"] * 2000}}))
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
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store_dir), str(parts_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (store_dir / "index").is_dir() or not any((store_dir / "index").glob("[!.]*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, (
            proc.stderr.read() if proc.poll() is not None else ""
        )
        time.sleep(0.05)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]  # the writer died on its own

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
    assert list(parts_dir.glob(".tmp-*")) == []
    table = parts.read_all()
    assert len(table) == 2000 * len(parts.files()) and len(table) > 0
    assert set(table.column("description").to_pylist()) == {"x" * 200}
    new = {"id": "new", "wild_type_id": "w", "mutations": ["K2R"], "description": "y"}
    parts.write(pa.Table.from_pylist([new], schema=PARTS_SCHEMA))  # the columns not given: null
    assert len(PartStore(root=parts_dir, run=RUN).read_all()) == len(table) + 1


PUBLISHER = textwrap.dedent("""
    import sys
    from m2t.atomic import publish_dir
    a, b, dst = sys.argv[1:4]
    i = 0
    while True:  # the final-checkpoint publish of a training run, over and over
        publish_dir(a if i % 2 == 0 else b, dst)
        i += 1
        print(i, flush=True)
""")


def test_sigkilled_checkpoint_publish_leaves_the_old_or_the_new_checkpoint(tmp_path):
    cfg = load_config(None)
    model = build_model(cfg, stage="pretrain", dim_in=64, encoder_id="esm2:tiny:d64-l2-h4-seed0")
    a = save_checkpoint(model, cfg, tmp_path / "a")
    with torch.no_grad():
        for p in model.adapter.parameters():
            p.add_(1.0)
    b = save_checkpoint(model, cfg, tmp_path / "b")
    versions = [load_file(c / "adapter.safetensors") for c in (a, b)]
    dst = tmp_path / "pretrain" / "checkpoint"
    for delay in (0.3, 0.7, 1.1):  # three kills at different points of the loop
        proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(a), str(b), str(dst)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip(), proc.stderr.read()  # one publish done: dst exists
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        loaded, _ = load_checkpoint(dst, stage="pretrain")  # the next run's reader
        got = load_file(dst / "adapter.safetensors")
        assert any(got.keys() == v.keys() and all(torch.equal(got[k], v[k]) for k in v) for v in versions)
        assert all(torch.equal(t, got[k]) for k, t in loaded.adapter.state_dict().items())
    publish_dir(a, dst)  # the next publish clears what the kills left (half-copied temp dirs)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["checkpoint"]
