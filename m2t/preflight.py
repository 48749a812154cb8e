"""Before any Ray work, a job checks every place it will write, so a user does not wait for actors to fail.

:func:`preflight` takes the places from the config (``output.root``, ``embed.store``, ``train.storage_path``, a local
MLflow store) and the job's own output flags, and raises :class:`m2t.errors.StorageError` (exit code 2, one line:
the key, the location and the reason) when one cannot be used:

- an object-store prefix (``s3://``, ``gs://``) must answer: its bucket exists and the credentials may read it.
  pyarrow's errors become a reason: no such bucket, access denied, endpoint unreachable (credentials in a URI are
  shown as ``***``). Write permission itself is only known at the first write;
- a local path must be, or be creatable as, a writable directory;
- no local place may lie inside Ray's unpacked copy of a job's working directory
  (``.../runtime_resources/working_dir_files/_ray_pkg_<hash>/`` of ``ray job submit --working-dir .``): Ray deletes it
  when the package is garbage-collected or the session ends, and the outputs with it (docs/cluster.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from m2t.config import Config
from m2t.errors import StorageError
from m2t.storage import Location, is_object_uri
from m2t.tracking import sqlite_file, tracking_uri

RAY_PACKAGES = (
    "working_dir_files"  # Ray unpacks `--working-dir` into <temp>/session_*/runtime_resources/<this>/_ray_pkg_*
)
_SECRET = re.compile(r"//[^/@]+@")  # s3://KEY:SECRET@bucket/...
# pyarrow's messages (AWS SDK error names; Google Cloud status codes) -> the reason a user acts on
_DENIED = ("ACCESS_DENIED", "HTTP status 403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "PERMISSION_DENIED")
_MISSING = ("NoSuchBucket", "RESOURCE_NOT_FOUND", "not found")  # e.g. resolving the region of a missing bucket
_UNREACHABLE = ("NETWORK_CONNECTION", "curlCode", "UNAVAILABLE", "Could not resolve host", "Couldn't resolve host")


def shown(uri: str) -> str:
    """``uri`` with any credentials in it masked."""
    return _SECRET.sub("//***@", uri)


def ray_package(path: str | Path) -> Path | None:
    """The Ray working-dir package directory ``path`` lies in (a ``_ray_pkg_*`` under ``working_dir_files``), or None."""
    resolved = Path(path).expanduser().resolve()
    return next(
        (p for p in (resolved, *resolved.parents) if p.name.startswith("_ray_pkg_") and p.parent.name == RAY_PACKAGES),
        None,
    )


def _endpoint(uri: str) -> str:
    given = parse_qs(urlsplit(uri).query).get("endpoint_override")
    return given[0] if given else os.environ.get("AWS_ENDPOINT_URL", "the default endpoint")


def _reason(exc: Exception, uri: str) -> str:
    text = " ".join(str(exc).split())  # one line
    if any(k in text for k in _DENIED):
        return "access denied: check the credentials (AWS_* / Google's application default, or those in the URI) and the bucket's permissions"
    if any(k in text for k in _UNREACHABLE):
        detail = text.rpartition("Details: ")[2] if "Details: " in text else text[-200:]
        return f"endpoint unreachable ({_endpoint(uri)}: {detail}); check the endpoint (AWS_ENDPOINT_URL or endpoint_override) and the network"
    if any(k in text for k in _MISSING):
        return f"no such bucket ({text[:200]}); create it or fix the name"
    return f"{type(exc).__name__}: {text[:300]}"


def _check_object(key: str, uri: str) -> None:
    try:
        where = Location.of(uri)
        bucket = where.path.split("/", 1)[0]
        if where.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise StorageError(f"{key} {shown(uri)}: no such bucket '{bucket}'; create it or fix the name")
        info = where.fs.get_file_info(where.path)
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"{key} {shown(uri)}: {_reason(exc, uri)}") from exc
    if info.type == pafs.FileType.File:
        raise StorageError(f"{key} {shown(uri)}: is an object, not a prefix (a directory)")


def _check_local(key: str, path: Path) -> None:
    package = ray_package(path)
    if package is not None:
        raise StorageError(
            f"{key} {path} lies inside Ray's unpacked copy of the job's working directory ({package}), which Ray "
            f"deletes with its outputs: give {key} an absolute path outside it, on storage every node mounts "
            "(e.g. /mnt/shared/m2t/...), or object storage (docs/cluster.md)"
        )
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise StorageError(f"{key} {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(f"{key} {path}: {existing} is not writable (permission denied)")


def preflight(
    cfg: Config, *, embed: bool = False, train: bool = False, outputs: Mapping[str, str | Path | None] | None = None
) -> None:
    """Check ``output.root`` and, with ``embed``, ``embed.store``; with ``train``, ``train.storage_path``, the
    store when training reads one (``embed.mode: store``) and a local MLflow store; and ``outputs`` (``{flag:
    path}``, None skipped). Raises :class:`StorageError` for the first place that cannot be used."""
    places: dict[str, str | Path] = {"output.root": cfg.output.root}
    if embed or (train and cfg.embed.mode == "store"):
        places["embed.store"] = cfg.embed.store
    if train:
        places["train.storage_path"] = cfg.train.storage_path
        uri = tracking_uri(cfg) or "none://"
        db = sqlite_file(uri)
        if db is not None or "://" not in uri:  # a local SQLite database or file store
            places["tracking.uri"] = db.parent if db is not None else uri
    places.update({flag: path for flag, path in (outputs or {}).items() if path is not None})
    for key, where in places.items():
        if is_object_uri(where):
            _check_object(key, str(where))
        else:
            _check_local(key, Path(where).expanduser().absolute())
