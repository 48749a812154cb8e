"""What the cluster files must agree with: pyproject.toml's Ray pin, version and dependencies, and the repo's files."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
LAUNCHER_YAMLS = sorted(CLUSTER.glob("*.yaml"))
KUBERAY_YAMLS = sorted((CLUSTER / "kuberay").glob("*.yaml"))
SERVE_YAML = REPO / "m2t" / "configs" / "serve.yaml"
SERVE_TINY_YAML = REPO / "m2t" / "configs" / "serve_tiny.yaml"
REAL_CONFIG = REPO / "m2t" / "configs" / "llama3_esm3.yaml"
SHARED = "/mnt/shared"  # where every node of every route mounts the shared file system


def load_yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.relative_to(REPO)}: top level is not a mapping"
    return data


@cache
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def ray_version() -> str:
    """The X.Y.Z in pyproject's ``ray[...]==X.Y.Z``."""
    pins = [m.group(1) for d in project()["dependencies"] if (m := re.fullmatch(r"ray(?:\[[\w,]+\])?==([\w.]+)", d))]
    assert len(pins) == 1, f"pyproject.toml must pin ray exactly once as ray[...]==X.Y.Z, found {pins}"
    return pins[0]


def ray_image() -> str:
    """The image of every route: Ray's GPU image at the pinned Ray, for the Python pyproject requires."""
    minor = re.fullmatch(r">=3\.(\d+)", project()["requires-python"]).group(1)
    return f"rayproject/ray:{ray_version()}-py3{minor}-gpu"


def runtime_pip() -> list[str]:
    """pyproject's dependencies without ray (the image has it): the pip list of every runtime_env."""
    return [d for d in project()["dependencies"] if not re.match(r"ray\b", d)]


def code_uri() -> str:
    """The code snapshot every runtime_env's working_dir points to (docs/cluster.md, "Publish the code")."""
    return f"file://{SHARED}/m2t/code/m2t-{project()['version']}.zip"
