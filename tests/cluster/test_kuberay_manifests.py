"""cluster/kuberay/: manifests parse, carry what their kind requires, agree with pyproject, and read as Ray reads them."""

from __future__ import annotations

import copy

import pytest
import yaml
from cluster_files import (
    KUBERAY_YAMLS,
    REAL_CONFIG,
    SERVE_YAML,
    SHARED,
    code_uri,
    load_yaml,
    ray_image,
    ray_version,
    runtime_pip,
)
from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

from m2t.config import load_config

MANIFESTS = {p.name: load_yaml(p) for p in KUBERAY_YAMLS}
RAY_KINDS = {"RayCluster", "RayJob", "RayService"}


def by_kind(kind: str) -> dict[str, dict]:
    return {name: m for name, m in MANIFESTS.items() if m["kind"] == kind}


def cluster_specs() -> dict[str, dict]:
    """Every RayCluster spec: the RayCluster's own and the RayService's rayClusterConfig."""
    specs = {name: m["spec"] for name, m in by_kind("RayCluster").items()}
    specs |= {name: m["spec"]["rayClusterConfig"] for name, m in by_kind("RayService").items()}
    return specs


def pod_specs(spec: dict) -> list[dict]:
    return [spec["headGroupSpec"]["template"]["spec"], *(g["template"]["spec"] for g in spec["workerGroupSpecs"])]


def test_expected_manifests_and_kinds():
    assert {name: m["kind"] for name, m in MANIFESTS.items()} == {
        "raycluster.yaml": "RayCluster",
        "rayservice.yaml": "RayService",
        "shared-pvc.yaml": "PersistentVolumeClaim",
        **{
            f"rayjob-{j}.yaml": "RayJob"
            for j in ("preprocess", "split", "embed", "pretrain", "finetune", "batch-score")
        },
    }


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_api_version_and_name(name):
    m = MANIFESTS[name]
    assert m["apiVersion"] == ("ray.io/v1" if m["kind"] in RAY_KINDS else "v1")
    assert m["metadata"]["name"]


def test_manifest_names_are_unique_per_kind():
    keys = [(m["kind"], m["metadata"]["name"]) for m in MANIFESTS.values()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", sorted(cluster_specs()))
def test_cluster_spec_required_fields_and_versions(name):
    spec = cluster_specs()[name]
    assert spec["rayVersion"] == ray_version()
    assert spec["headGroupSpec"]["template"]["spec"]["containers"]
    assert spec["workerGroupSpecs"], "no worker group"
    for group in spec["workerGroupSpecs"]:
        assert group["groupName"] and group["template"]["spec"]["containers"]
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    images = {c["image"] for pod in pod_specs(spec) for c in pod["containers"]}
    assert images == {ray_image()}


@pytest.mark.parametrize("name", sorted(cluster_specs()))
def test_gpus_are_requested_through_nvidia_com_gpu(name):
    for group in cluster_specs()[name]["workerGroupSpecs"]:
        res = group["template"]["spec"]["containers"][0]["resources"]
        assert int(res["limits"]["nvidia.com/gpu"]) >= 1
        assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"]


@pytest.mark.parametrize("name", sorted(cluster_specs()))
def test_every_pod_mounts_the_shared_claim(name):
    claim = by_kind("PersistentVolumeClaim")["shared-pvc.yaml"]["metadata"]["name"]
    for pod in pod_specs(cluster_specs()[name]):
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert volumes[mounts[SHARED]]["persistentVolumeClaim"]["claimName"] == claim
        assert {"name": "HF_HOME", "value": f"{SHARED}/hf"} in pod["containers"][0]["env"]


def test_shared_claim_is_read_write_many():
    pvc = by_kind("PersistentVolumeClaim")["shared-pvc.yaml"]["spec"]
    assert pvc["accessModes"] == ["ReadWriteMany"]
    assert pvc["resources"]["requests"]["storage"]


def derived(spec: dict, name: str) -> dict:
    """The autoscaler config Ray's KubeRay autoscaler derives (and validates) from a RayCluster spec."""
    return _derive_autoscaling_config_from_ray_cr(
        {"metadata": {"name": name, "namespace": "default"}, "spec": copy.deepcopy(spec)}
    )


def test_ray_reads_the_batch_cluster_as_a_cpu_head_and_8_gpu_nodes_that_fit_the_real_jobs():
    cfg = derived(by_kind("RayCluster")["raycluster.yaml"]["spec"], "m2t")
    types = cfg["available_node_types"]
    assert types["headgroup"]["resources"]["CPU"] == 0
    gpu = types["gpu-8x"]
    assert (gpu["resources"]["GPU"], gpu["resources"]["CPU"], gpu["min_workers"], gpu["max_workers"]) == (8, 88, 0, 2)
    real = load_config(REAL_CONFIG)
    assert gpu["resources"]["GPU"] >= max(real.train.num_workers, real.embed.num_actors)
    assert gpu["resources"]["CPU"] >= real.train.num_workers * real.train.cpus_per_worker


def test_ray_reads_the_service_cluster_with_room_for_every_replica():
    spec = by_kind("RayService")["rayservice.yaml"]["spec"]["rayClusterConfig"]
    types = derived(spec, "m2t-serve")["available_node_types"]
    deployment = load_yaml(SERVE_YAML)["applications"][0]["deployments"][0]
    (group,) = [t for name, t in types.items() if name != "headgroup"]
    per_node = group["resources"]["GPU"] // deployment["ray_actor_options"]["num_gpus"]
    assert per_node * group["max_workers"] >= deployment["autoscaling_config"]["max_replicas"]
    assert group["resources"]["CPU"] >= per_node * deployment["ray_actor_options"]["num_cpus"]


@pytest.mark.parametrize("name", sorted(by_kind("RayJob")))
def test_rayjob_has_entrypoint_cluster_and_runtime_env(name):
    spec = MANIFESTS[name]["spec"]
    assert spec["entrypoint"].startswith("python jobs/")
    assert ("clusterSelector" in spec) != ("rayClusterSpec" in spec), "a RayJob needs exactly one of the two"
    if "clusterSelector" in spec:  # the RayCluster of raycluster.yaml
        assert spec["clusterSelector"] == {
            "ray.io/cluster": by_kind("RayCluster")["raycluster.yaml"]["metadata"]["name"]
        }
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert env == {"working_dir": code_uri(), "pip": runtime_pip()}


def test_rayservice_serve_config_is_jobs_configs_serve_yaml():
    service = yaml.safe_load(by_kind("RayService")["rayservice.yaml"]["spec"]["serveConfigV2"])
    assert service == {"applications": load_yaml(SERVE_YAML)["applications"]}
