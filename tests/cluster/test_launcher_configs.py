"""cluster/*.yaml: valid for `ray up` (Ray's own schema and preparation), same Ray as pyproject, room for the real jobs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
from cluster_files import LAUNCHER_YAMLS, REAL_CONFIG, REPO, SHARED, load_yaml, ray_image, ray_version
from ray.autoscaler._private.util import prepare_config, validate_config

from m2t.config import load_config

SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
IDS = [p.name for p in LAUNCHER_YAMLS]


def test_the_three_routes_exist():
    assert [p.name for p in LAUNCHER_YAMLS] == ["aws.yaml", "gcp.yaml", "onprem.yaml"]


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=IDS)
def test_file_validates_against_rays_schema(path):
    jsonschema.validate(load_yaml(path), SCHEMA)


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=IDS)
def test_ray_up_preparation_accepts_it(path):
    """What `ray up` does before it talks to the cloud: merge the provider's defaults, then validate."""
    prepared = prepare_config(copy.deepcopy(load_yaml(path)))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_a_misspelt_key_is_rejected():
    cfg = load_yaml(LAUNCHER_YAMLS[0])
    cfg["setup_comands"] = cfg.pop("setup_commands")
    with pytest.raises(jsonschema.ValidationError, match="setup_comands"):
        jsonschema.validate(cfg, SCHEMA)


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=IDS)
def test_image_and_setup_pin_pyprojects_ray(path):
    cfg = load_yaml(path)
    assert cfg["docker"]["image"] == ray_image()
    pins = [m.group(1) for c in cfg["setup_commands"] for m in re.finditer(r"ray\[[\w,]+\]==([\w.]+)", c)]
    assert pins == [ray_version()], f"setup_commands must install ray=={ray_version()} once, found {pins}"
    assert any(re.search(r"pip install .*-e ~/m2t\b", c) for c in cfg["setup_commands"]), "the project is not installed"


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=IDS)
def test_repo_is_synced_without_ignored_files(path):
    cfg = load_yaml(path)
    assert {remote: (REPO / local).resolve() for remote, local in cfg["file_mounts"].items()} == {"~/m2t": REPO}
    assert ".gitignore" in cfg["rsync_filter"]


@pytest.mark.parametrize("path", LAUNCHER_YAMLS, ids=IDS)
def test_every_container_sees_the_shared_file_system(path):
    cfg = load_yaml(path)
    run_options = cfg["docker"]["run_options"]
    assert f"-v {SHARED}:{SHARED}" in run_options
    assert f"-e HF_HOME={SHARED}/hf" in run_options
    init = " ".join(cfg["initialization_commands"])
    assert f"mountpoint -q {SHARED}" in init


def test_the_real_config_writes_only_to_the_shared_file_system():
    """Multi-node Ray Train needs storage_path on shared storage; the store and checkpoints must be seen by all."""
    cfg = load_config(REAL_CONFIG)
    for name, path in [
        ("train.storage_path", cfg.train.storage_path),
        ("embed.store", cfg.embed.store),
        ("output.root", cfg.output.root),
    ]:
        assert str(path).startswith(f"{SHARED}/"), f"{name}={path} is not under {SHARED}, which every node mounts"


@pytest.mark.parametrize("path", [p for p in LAUNCHER_YAMLS if p.name != "onprem.yaml"], ids=["aws.yaml", "gcp.yaml"])
def test_cloud_clusters_autoscale_gpu_nodes_that_fit_the_real_jobs(path):
    cfg = load_yaml(path)
    real = load_config(REAL_CONFIG)
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "the head must not take tasks, actors or training workers"
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert gpu_types and all(t["min_workers"] == 0 for t in gpu_types.values()), "GPU nodes must scale to zero"
    usable = [t for t in gpu_types.values() if t["max_workers"] > 0]
    assert usable, "no GPU node type may be launched"
    for t in usable:  # one node holds the whole training job, the encoder actors and the serve replicas
        res = t["resources"]
        assert (
            res["GPU"] >= real.train.num_workers and res["CPU"] >= real.train.num_workers * real.train.cpus_per_worker
        )
        assert res["GPU"] >= real.embed.num_actors
        assert res["GPU"] * t["max_workers"] >= real.serve.max_replicas
    assert cfg["max_workers"] >= max(t["max_workers"] for t in gpu_types.values())
