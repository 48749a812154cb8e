"""Shared fixtures: one real local Ray cluster (num_cpus=2) for the whole session, and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "mutadescribe"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster shared by every test that needs one (start/stop costs ~5 s)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def mutadescribe_dir() -> Path:
    """The real MutaDescribe samples in ../shared; tests skip with a reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"MutaDescribe samples not found at {SHARED_DATA} (../shared is not beside the repo)")
    return SHARED_DATA
