"""Every job checks the places it will write before any Ray work (m2t.preflight): an object store that does not
answer, a local path that cannot be a directory, or one inside Ray's unpacked working directory, is refused with
one line and exit code 2, the real jobs run in child processes against a local S3 server (moto)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from m2t.bench import s3
from m2t.config import REPO_ROOT, load_config
from m2t.errors import StorageError
from m2t.preflight import preflight, ray_package

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def endpoint():
    if not s3.available():
        pytest.skip("moto is not installed (a dev dependency: pip install -e '.[dev]')")
    with s3.local_s3() as where:
        yield where


def job(script: str, *args: str) -> subprocess.CompletedProcess:
    """``python jobs/<script> ARGS`` as a user types it (M2T_LOG_LEVEL unset)."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "jobs" / script), *args], capture_output=True, text=True, timeout=240
    )


def refused(result: subprocess.CompletedProcess) -> str:
    """The one line of a job refused with exit code 2 (no traceback)."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def uri(endpoint: str, bucket: str, *, key: str = s3.KEY) -> str:
    return f"s3://{key}:{key}@{bucket}/m2t?endpoint_override={endpoint}&scheme=http&region=us-east-1"


def test_a_missing_bucket(endpoint, tmp_path):
    line = refused(job("embed.py", f"embed.store={uri(endpoint, 'm2t-missing-bucket')}", f"output.root={tmp_path}"))
    assert line.startswith("error: embed.store s3://***@m2t-missing-bucket/m2t?endpoint_override=")
    assert line.endswith(": no such bucket 'm2t-missing-bucket'; create it or fix the name")
    assert s3.KEY not in line.split("@")[0]  # credentials are masked


def test_wrong_credentials_on_ray_trains_storage_path(tmp_path):
    """A server that checks credentials and knows none: every request is a 403."""
    if not s3.available():
        pytest.skip("moto is not installed")
    with s3.local_s3(authenticate=True) as checked:
        storage = uri(checked, "team-bucket", key="wrong")
        line = refused(job("pretrain.py", f"train.storage_path={storage}", f"output.root={tmp_path}"))
    assert line.startswith("error: train.storage_path s3://***@team-bucket/m2t?")
    assert ": access denied: check the credentials" in line


def test_an_endpoint_that_refuses_the_connection_and_debug_shows_the_traceback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    store = uri(f"127.0.0.1:{port}", "bucket")
    line = refused(job("embed.py", f"embed.store={store}", f"output.root={tmp_path}"))
    assert line.startswith("error: embed.store s3://***@bucket/m2t?")
    assert f": endpoint unreachable (127.0.0.1:{port}: " in line and "check the endpoint" in line
    debug = job("embed.py", "--debug", f"embed.store={store}", f"output.root={tmp_path}")
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "OSError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line


def test_a_reachable_bucket_passes(endpoint, tmp_path):
    s3.filesystem(endpoint).create_dir("there")
    cfg = load_config(None, [f"embed.store={uri(endpoint, 'there')}", f"output.root={tmp_path / 'new' / 'out'}"])
    preflight(cfg, embed=True, train=True)  # nothing raised; nothing created
    assert list(tmp_path.iterdir()) == []


def test_a_local_path_that_cannot_be_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    line = refused(job("split.py", f"output.root={tmp_path / 'file' / 'out'}"))
    assert line == f"error: output.root {tmp_path / 'file' / 'out'}: {tmp_path / 'file'} is a file, not a directory"


def test_outputs_inside_a_ray_working_dir_package_are_refused(tmp_path):
    """Where `ray job submit --working-dir .` unpacks the repo; the real submission: tests/train/test_training.py."""
    package = tmp_path / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_0123abcd"
    assert ray_package(package / "outputs" / "x") == package and ray_package(tmp_path) is None
    for key in ("output.root", "embed.store", "train.storage_path"):
        cfg = load_config(None, [f"output.root={tmp_path / 'out'}", f"{key}={package / 'outputs'}"])
        with pytest.raises(StorageError) as err:
            preflight(cfg, train=True)
        assert str(err.value).startswith(
            f"{key} {package / 'outputs'} lies inside Ray's unpacked copy of the job's working directory ({package})"
        )
        assert f"give {key} an absolute path outside it" in str(err.value)
