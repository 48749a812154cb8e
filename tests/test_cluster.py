"""Joining Ray from a job: a cluster that does not answer stops the job within seconds, with one line naming the
address and the fix, instead of ``ray.init()`` waiting on it forever."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from m2t.cli import EXIT_PLACEMENT
from m2t.cluster import ClusterUnreachable, ray_init_args
from m2t.config import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_args_probe_the_address_ray_would_join(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    assert ray_init_args(num_cpus=2) == {"num_cpus": 2}  # no address file: Ray starts a local cluster
    (tmp_path / "ray").mkdir()
    dead = f"127.0.0.1:{_free_port()}"  # nothing listens there
    (tmp_path / "ray" / "ray_current_cluster").write_text(dead)
    with pytest.raises(
        ClusterUnreachable, match=rf"the Ray cluster at {dead} \(from {tmp_path}/ray/ray_current_cluster"
    ):
        ray_init_args()
    monkeypatch.setenv("RAY_ADDRESS", "local")  # the way out the message names
    assert ray_init_args() == {}
    monkeypatch.setenv("RAY_ADDRESS", dead)
    with pytest.raises(ClusterUnreachable, match=r"\(from RAY_ADDRESS\) .* point RAY_ADDRESS at a live head"):
        ray_init_args()
    assert ray_init_args(address="local", include_dashboard=False) == {"address": "local", "include_dashboard": False}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_job_left_with_a_dead_heads_address_ends_within_a_minute(tmp_path, user_shell_env):
    """A real `ray start --head` (own temp dir and ports: no other cluster is touched), SIGKILLed with every process
    it started: its address file stays behind, as in /tmp/ray after a crash. A job run as the user would run it then
    exits 4 within seconds, its last line naming the address and the fix."""
    temp = Path(tempfile.mkdtemp(prefix="m2t-dead-", dir="/tmp"))  # short: Ray puts sockets in it
    env = {**user_shell_env, "RAY_TMPDIR": str(temp)}  # Ray's temp dir: $RAY_TMPDIR/ray instead of /tmp/ray
    port = _free_port()
    head = subprocess.Popen(
        [
            "ray",
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=1",
            "--include-dashboard=false",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--ray-client-server-port={_free_port()}",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address_file = temp / "ray" / "ray_current_cluster"
    try:
        deadline = time.monotonic() + 120
        while not address_file.is_file() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert address_file.is_file(), "ray start wrote no address file"
        address = address_file.read_text().strip()
        for proc in [psutil.Process(head.pid), *psutil.Process(head.pid).children(recursive=True)]:
            proc.send_signal(signal.SIGKILL)  # the head dies uncleanly: nothing removes the address file
        head.wait(timeout=30)
        assert address_file.read_text().strip() == address

        started = time.monotonic()
        job = subprocess.run(
            [sys.executable, "jobs/pretrain.py", f"output.root={tmp_path}"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        seconds = time.monotonic() - started
    finally:
        if head.poll() is None:
            head.kill()
        shutil.rmtree(temp, ignore_errors=True)
    assert job.returncode == EXIT_PLACEMENT, job.stderr[-3000:]
    last = job.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the Ray cluster at {address} (from {address_file}, which `ray start` wrote)")
    assert "`ray start --head`" in last and "RAY_ADDRESS=local" in last
    assert seconds < 60 and not (tmp_path / "data").exists()
    print(f"the job ended in {seconds:.1f} s: {last}")
