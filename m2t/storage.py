"""Where a store lives: a local (or shared, POSIX) directory, or an object-store prefix, through ``pyarrow.fs``.

``Location.of("s3://bucket/embeddings")`` or ``Location.of("gs://bucket/embeddings")`` resolve through
``pyarrow.fs.FileSystem.from_uri`` (credentials, region and endpoint come from the environment as the cloud
SDKs read them: ``AWS_*`` with ``AWS_ENDPOINT_URL`` for an S3-compatible server, Google's application default
credentials); any other value is a local path. Files are published whole either way:

- locally through :mod:`m2t.atomic` (a temporary name beside the target, fsync, rename);
- on an object store by one upload to the final name: an object appears only once its upload completes, and an
  upload that dies is never completed, so a reader sees the old object, the new one or none, never a torn one.

Object stores have no create-if-absent through ``pyarrow.fs``: :meth:`Location.create_exclusive` checks, then
writes, so two writers creating the same file at once both "win" (the store's manifest is the one such file).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from m2t.atomic import atomic_write_bytes

OBJECT_SCHEMES = ("s3", "gs", "gcs")  # what pyarrow.fs resolves for us, and what Ray Train's storage_path takes too
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")  # 's3://x', and the typo 's3:/x' (two letters at least: not C:/)


def uri_scheme(value: str | Path) -> str | None:
    """The scheme of a URI-looking value (``s3`` of ``s3://b/x``, also of the typo ``s3:/b/x``), else None."""
    match = _SCHEME.match(str(value))
    return match.group(1).lower() if match else None


def is_object_uri(value: str | Path) -> bool:
    return uri_scheme(value) in OBJECT_SCHEMES and "://" in str(value)


@dataclass(frozen=True)
class Location:
    """A file or directory: ``fs`` (a ``pyarrow.fs.FileSystem``), ``path`` in it, and ``uri`` as the user wrote it."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @classmethod
    def of(cls, where: str | Path | Location) -> Location:
        if isinstance(where, Location):
            return where
        if is_object_uri(where):
            fs, path = pafs.FileSystem.from_uri(str(where))
            return cls(fs=fs, path=path.rstrip("/"), uri=str(where))
        return cls(fs=pafs.LocalFileSystem(), path=str(Path(where)), uri=str(Path(where)))

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def __truediv__(self, name: str) -> Location:
        base, sep, query = self.uri.partition("?")  # s3://b/x?endpoint_override=...: the name goes before the query
        return Location(fs=self.fs, path=f"{self.path}/{name}", uri=f"{base}/{name}{sep}{query}")

    def __str__(self) -> str:
        return self.uri

    def is_file(self) -> bool:
        return self.fs.get_file_info(self.path).type == pafs.FileType.File

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as fh:
            return fh.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        """Publish ``data`` at this location whole (see the module docstring); parent directories are made."""
        if self.local:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, data)
            return
        with self.fs.open_output_stream(self.path) as fh:  # one write of the whole: completed on close, or never
            fh.write(data)

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def create_exclusive(self, data: bytes) -> bool:
        """Publish ``data`` here unless a file exists; True if this call created it (atomic only on a local fs)."""
        if not self.local:
            if self.is_file():
                return False
            self.write_bytes(data)
            return True
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
        tmp.write_bytes(data)
        try:
            os.link(tmp, target)  # fails if it exists: two creators cannot both win
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink()

    def files(self, suffix: str) -> dict[str, int]:
        """``{name: bytes}`` of the files directly under this directory ending in ``suffix``, skipping names that
        start with '.' (temporary files); empty when the directory does not exist."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return {
            info.base_name: info.size
            for info in infos
            if info.type == pafs.FileType.File
            and info.base_name.endswith(suffix)
            and not info.base_name.startswith(".")
        }

    def open_input(self) -> pa.NativeFile:
        """A random-access reader (``read_at(n, offset)``: ranged reads on an object store)."""
        return self.fs.open_input_file(self.path)
