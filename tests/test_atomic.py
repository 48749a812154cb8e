"""Files and directories published whole (m2t.atomic), including the state a kill between
publish_dir's two renames leaves behind."""

from __future__ import annotations

import json

import pytest

from m2t.atomic import atomic_write, publish_dir, restore_dir
from m2t.errors import InputError
from m2t.model import read_meta

META = {"format": "m2t-checkpoint", "version": 1}


def checkpoint_like(path, version: str):
    path.mkdir(parents=True)
    (path / "m2t_model.json").write_text(json.dumps({**META, "v": version}))
    (path / "adapter.safetensors").write_text(version)
    return path


def test_publish_dir_replaces_the_whole_directory(tmp_path):
    src, dst = checkpoint_like(tmp_path / "src", "new"), checkpoint_like(tmp_path / "out" / "checkpoint", "old")
    (dst / "stale.json").write_text("{}")
    assert publish_dir(src, dst) == dst
    assert sorted(p.name for p in dst.iterdir()) == ["adapter.safetensors", "m2t_model.json"]
    assert (dst / "adapter.safetensors").read_text() == "new"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["checkpoint"]  # no temp or old copies left


def test_a_publish_killed_between_its_renames_reads_as_the_old_copy(tmp_path):
    dst = checkpoint_like(tmp_path / "out" / "checkpoint", "old")
    # What publish_dir leaves when killed after `dst -> .old-*` and before `.tmp-* -> dst`:
    checkpoint_like(dst.with_name(".tmp-aa-checkpoint"), "new")
    dst.rename(dst.with_name(".old-bb-checkpoint"))
    assert not dst.exists()
    assert read_meta(dst)["v"] == "old"  # the next reader finds the old complete copy back in place
    assert (dst / "adapter.safetensors").read_text() == "old"
    assert restore_dir(dst) == dst and (dst / "adapter.safetensors").read_text() == "old"  # idempotent
    publish_dir(checkpoint_like(tmp_path / "src", "newer"), dst)  # the next publish also clears the leftovers
    assert read_meta(dst)["v"] == "newer" and sorted(p.name for p in dst.parent.iterdir()) == ["checkpoint"]


def test_restore_dir_leaves_a_missing_directory_missing(tmp_path):
    assert not restore_dir(tmp_path / "nothing" / "checkpoint").exists()
    with pytest.raises(InputError, match=r"checkpoint .*/checkpoint does not exist"):
        read_meta(tmp_path / "checkpoint")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    atomic_write(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
