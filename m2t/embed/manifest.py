"""The store's ``manifest.json``: which encoder built it, at what width and dtype, and its counts.

Created once, atomically (a second creator finds it and is checked against it); the counts are
recomputed from the index by whoever finishes a run and published with ``os.replace``.
"""

from __future__ import annotations

import json

from m2t.errors import InputError, M2TError, MismatchError
from m2t.storage import Location

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


def read_manifest(root: Location) -> dict:
    """The manifest of the store at ``root``; :class:`InputError` when there is none or it is unreadable."""
    path = root / MANIFEST
    if not path.is_file():
        raise InputError(
            f"no embedding store at {root} ({MANIFEST} missing); build one with `m2t embed --output {root}`"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); the store is damaged, rebuild it") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise MismatchError(
            f"{path}: store format version {manifest.get('format_version')!r}, this m2t reads "
            f"version {FORMAT_VERSION}; rebuild the store with `m2t embed --output {root}`"
        )
    return manifest


def create_manifest(root: Location, manifest: dict) -> bool:
    """Publish ``manifest`` at ``root`` unless one exists; True if created. Atomic create-if-absent on a local
    file system; on an object store check-then-write (see :mod:`m2t.storage`), so the caller reads it back."""
    return (root / MANIFEST).create_exclusive((json.dumps(manifest, indent=2) + "\n").encode())


def check_same(root: Location, manifest: dict, *, encoder_id: str, hidden_size: int, dtype: str | None = None) -> None:
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


def write_manifest(root: Location, manifest: dict) -> None:
    (root / MANIFEST).write_bytes((json.dumps(manifest, indent=2) + "\n").encode())
