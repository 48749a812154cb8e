"""A local S3-compatible server for the benchmark and the tests: moto (a dev dependency) speaking the real S3 HTTP API
on 127.0.0.1, in a process of its own, reached through pyarrow's own S3 client.

The endpoint and credentials travel in the store's URI (``s3://KEY:SECRET@bucket/prefix?endpoint_override=...``),
so Ray workers reach the server without environment variables of their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow.fs as pafs

KEY = "testing"
SERVER = "from moto.server import ThreadedMotoServer as S; import time; S(ip_address='127.0.0.1', port={port}, verbose=False).start(); time.sleep(1e9)"


def available() -> bool:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def local_s3(timeout_s: float = 60.0, *, authenticate: bool = False) -> Iterator[str]:
    """Run the server while the block runs; yields its endpoint, ``127.0.0.1:<port>``. With ``authenticate`` it
    checks credentials as S3 does, and knows none: every request is refused with 403 (access denied)."""
    # moto checks credentials against its IAM from the request this count names (0: the first)
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"} if authenticate else None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(port=port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local S3 server did not start on port {port}") from None
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


def filesystem(endpoint: str) -> pafs.S3FileSystem:
    """A pyarrow S3 client of the server (it may create buckets)."""
    return pafs.S3FileSystem(
        access_key=KEY,
        secret_key=KEY,
        endpoint_override=endpoint,
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=True,
    )


def bucket_uri(endpoint: str, bucket: str, prefix: str) -> str:
    """``s3://`` URI of ``prefix`` in a new ``bucket`` on the server, endpoint and credentials included."""
    filesystem(endpoint).create_dir(bucket)
    return f"s3://{KEY}:{KEY}@{bucket}/{prefix}?endpoint_override={endpoint}&scheme=http&region=us-east-1"
