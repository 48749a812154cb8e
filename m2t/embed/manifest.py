"""The store's ``manifest.json``: which encoder built it, at what width and dtype, and its counts.

Created once, atomically (a second creator finds it and is checked against it); the counts are
recomputed from the index by whoever finishes a run and published with ``os.replace``.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from m2t.atomic import atomic_write_bytes
from m2t.errors import InputError, M2TError, MismatchError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DTYPES = ("float16", "bfloat16", "float32")


def new_manifest(*, encoder_id: str, hidden_size: int, dtype: str) -> dict:
    if dtype not in DTYPES:
        raise M2TError(f"embedding store dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return {
        "format_version": FORMAT_VERSION,
        "encoder_id": encoder_id,
        "hidden_size": int(hidden_size),
        "dtype": dtype,
        "counts": {"sequences": 0, "residues": 0, "shards": 0, "duplicates": 0, "bytes": 0},
    }


def read_manifest(root: Path) -> dict:
    """The manifest of the store at ``root``; :class:`InputError` when there is none or it is unreadable."""
    path = root / MANIFEST
    if not path.is_file():
        raise InputError(
            f"no embedding store at {root} ({MANIFEST} missing); build one with `python jobs/embed.py --output {root}`"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); the store is damaged, rebuild it") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise MismatchError(
            f"{path}: store format version {manifest.get('format_version')!r}, this m2t reads "
            f"version {FORMAT_VERSION}; rebuild the store with `python jobs/embed.py --output {root}`"
        )
    return manifest


def create_manifest(root: Path, manifest: dict) -> bool:
    """Publish ``manifest`` at ``root`` unless one exists (atomic create-if-absent); True if created."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex}-{MANIFEST}"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    try:
        os.link(tmp, root / MANIFEST)  # fails if it exists: two creators cannot both win
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def check_same(root: Path, manifest: dict, *, encoder_id: str, hidden_size: int, dtype: str | None = None) -> None:
    """Raise :class:`MismatchError` naming every setting in which the store differs from the request
    (``dtype=None``: any dtype will do)."""
    diffs = [
        f"{name}: store has {manifest[name]!r}, asked for {want!r}"
        for name, want in (("encoder_id", encoder_id), ("hidden_size", int(hidden_size)), ("dtype", dtype))
        if want is not None and manifest[name] != want
    ]
    if diffs:
        raise MismatchError(
            f"embedding store {root} was built with other settings ({'; '.join(diffs)}); "
            f"point embed.store at another directory or use the store's settings"
        )


def write_manifest(root: Path, manifest: dict) -> None:
    atomic_write_bytes(root / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
