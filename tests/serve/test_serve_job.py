"""jobs/serve.py and the app builder without a cluster: exit codes, argument checks, deployment options."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError
from ray.serve.schema import ServeApplicationSchema

from m2t.config import REPO_ROOT, ConfigError, load_config
from m2t.errors import InputError
from m2t.serve.app import build_app, deployment_options


def test_missing_checkpoint_exits_2_with_the_command_that_makes_one(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "jobs" / "serve.py"), "--checkpoint", str(tmp_path / "nope")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert f"checkpoint {tmp_path / 'nope'} does not exist" in run.stderr
    assert "m2t finetune" in run.stderr


def test_default_checkpoint_is_the_finetune_output(tmp_path):
    with pytest.raises(InputError, match=f"{tmp_path}/finetune/checkpoint"):
        build_app({"config": None, "checkpoint": None, "overrides": [f"output.root={tmp_path}"]})
    with pytest.raises(InputError, match=f"{tmp_path}/finetune/checkpoint"):  # `serve run ... overrides="a=1 b=2"`
        build_app({"overrides": f"serve.max_batch_size=4 output.root={tmp_path}"})


def test_build_app_rejects_unknown_arguments():
    with pytest.raises(ValidationError, match="chekpoint"):
        build_app({"chekpoint": "x"})


def test_deployment_options_follow_the_serve_section():
    cfg = load_config(
        None,
        [
            "serve.use_gpu=false",
            "serve.cpus_per_replica=0.25",
            "serve.max_replicas=3",
            "serve.max_batch_size=16",
            "serve.max_ongoing_requests=40",
            "serve.target_ongoing_requests=12",
            "serve.health_check_period_s=3",
        ],
    )
    assert deployment_options(cfg.serve) == {
        "ray_actor_options": {"num_cpus": 0.25},
        "max_ongoing_requests": 40,
        "health_check_period_s": 3.0,
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 12.0},
    }
    gpu = deployment_options(load_config(None, ["serve.use_gpu=true"]).serve)
    assert gpu["ray_actor_options"] == {"num_gpus": 1, "num_cpus": 1.0}


def test_serve_config_rejects_batches_that_could_never_fill():
    with pytest.raises(ConfigError, match=r"max_ongoing_requests \(4\) must be >= max_batch_size \(16\)"):
        load_config(None, ["serve.max_ongoing_requests=4"])


@pytest.mark.parametrize("prefix", ["/", "/m2t", "/team/m2t-v1"])
def test_route_prefix_takes_what_ray_serve_takes(prefix):
    assert load_config(None, [f"serve.route_prefix={prefix}"]).serve.route_prefix == prefix
    ServeApplicationSchema(import_path="m2t.serve.app:build_app", route_prefix=prefix)


@pytest.mark.parametrize("prefix", ["m2t", "/m2t/", "/a b", "//m2t"])
def test_route_prefix_rejects_what_would_break_the_routes(prefix):
    with pytest.raises(ConfigError, match=r"serve\.route_prefix.*is not a route prefix.*e\.g\. '/m2t'"):
        load_config(None, [f"serve.route_prefix={prefix}"])
