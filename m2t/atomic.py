"""Files and directories published whole: a reader, or the next run after a kill, finds the old
complete version or the new one, never a torn one.

A file is written under a temporary name beside its target (``.tmp-<hex>-<name>``), fsynced, and
renamed over it. A directory is copied to a temporary sibling and swapped in with two renames; a kill
between them leaves the target missing and its previous copy at ``.old-<hex>-<name>``, which
:func:`restore_dir` puts back (:func:`publish_dir` and the checkpoint readers call it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def _sibling(path: Path, kind: str) -> Path:
    return path.with_name(f".{kind}-{uuid.uuid4().hex}-{path.name}")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Publish the file ``write(tmp)`` makes at ``path`` (``write`` gets a temporary path beside it)."""
    path = Path(path)
    tmp = _sibling(path, "tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def restore_dir(dst: str | Path) -> Path:
    """Put the previous copy of ``dst`` back if a :func:`publish_dir` was killed between its two renames."""
    dst = Path(dst)
    if not dst.exists() and dst.parent.is_dir():
        olds = sorted(dst.parent.glob(f".old-*-{dst.name}"), key=lambda p: p.stat().st_mtime)
        if olds:
            try:
                olds[-1].rename(dst)
            except OSError:  # another reader put it back first
                pass
    return dst


def publish_dir(src: str | Path, dst: str | Path, *, fill: Callable[[Path], object] | None = None) -> Path:
    """Copy directory ``src`` to ``dst`` as a whole, replacing what was there; returns ``dst``. ``fill(copy)`` may
    add files to the copy before it is swapped in (a checkpoint's model card)."""
    src, dst = Path(src), Path(dst)
    restore_dir(dst)
    for stale in [*dst.parent.glob(f".tmp-*-{dst.name}"), *dst.parent.glob(f".old-*-{dst.name}")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a publish killed before its swap or its cleanup
    tmp, old = _sibling(dst, "tmp"), _sibling(dst, "old")
    shutil.copytree(src, tmp)
    if fill is not None:
        fill(tmp)
    if dst.exists():
        dst.rename(old)
    tmp.rename(dst)  # a kill just before this leaves dst missing: restore_dir
    shutil.rmtree(old, ignore_errors=True)
    return dst
