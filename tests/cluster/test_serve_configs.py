"""m2t/configs/serve.yaml and serve_tiny.yaml: Ray Serve's own schema, m2t's app and config, and a real deploy."""

from __future__ import annotations

import importlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cluster_files import REPO, SERVE_TINY_YAML, SERVE_YAML, code_uri, load_yaml, runtime_pip
from ray.serve.schema import ServeDeploySchema

from m2t.config import load_config

CASES = {"serve.yaml": (SERVE_YAML, 1), "serve_tiny.yaml": (SERVE_TINY_YAML, 0)}  # file, GPUs per replica


def app_of(path: Path) -> dict:
    (app,) = load_yaml(path)["applications"]
    return app


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_ray_serve_config(name):
    schema = ServeDeploySchema.model_validate(load_yaml(CASES[name][0]))
    assert [a.name for a in schema.applications] == ["m2t"]
    assert schema.applications[0].route_prefix == "/"


@pytest.mark.parametrize("name", sorted(CASES))
def test_application_is_m2ts_builder_with_valid_args(name):
    from m2t.serve.app import AppArgs, M2TServer, build_app

    app = app_of(CASES[name][0])
    module, _, attr = app["import_path"].partition(":")
    assert getattr(importlib.import_module(module), attr) is build_app
    args = AppArgs.model_validate(app["args"])
    assert [d["name"] for d in app["deployments"]] == [M2TServer.name]
    cfg = load_config(REPO / args.config, args.overrides)  # relative to the repo root: Serve's working dir
    expected = cfg.stage_dir("finetune") / "checkpoint"  # what finetune writes and jobs/serve.py serves
    assert args.checkpoint is None or Path(args.checkpoint) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_deployment_options_agree_with_the_m2t_config(name):
    path, gpus = CASES[name]
    app, http = app_of(path), load_yaml(path)["http_options"]
    cfg = load_config(REPO / app["args"]["config"]).serve
    (dep,) = app["deployments"]
    assert dep["max_ongoing_requests"] >= cfg.max_batch_size, "@serve.batch could never fill"
    scaling = dep["autoscaling_config"]
    assert (scaling["min_replicas"], scaling["max_replicas"]) == (cfg.min_replicas, cfg.max_replicas)
    assert dep["ray_actor_options"]["num_gpus"] == gpus
    assert (http["host"], http["port"]) == (cfg.host, cfg.port)
    assert app["route_prefix"] == cfg.route_prefix  # where jobs/serve.py would serve it (and prints the page)


def test_cluster_serve_config_runs_the_published_code_with_pyprojects_dependencies():
    assert app_of(SERVE_YAML)["runtime_env"] == {"working_dir": code_uri(), "pip": runtime_pip()}
    config = REPO / app_of(SERVE_YAML)["args"]["config"]  # in the code zip, which keeps no symbolic link
    assert config.is_file() and not [p for p in config.parents if p.is_symlink()]
    assert "runtime_env" not in app_of(SERVE_TINY_YAML)  # the local working tree, as it is


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, body: dict | None = None) -> tuple[int, dict | str]:
    """(status, JSON body or text); status 0 when nothing listens yet."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError:
        return 0, ""
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.mark.slow
def test_serve_tiny_yaml_deploys_with_serve_run_and_describes_a_mutation(ray_cluster, tmp_path):
    """`serve run jobs/configs/serve_tiny.yaml` as a user runs it, with a tiny checkpoint and a free port."""
    from ray import serve

    from m2t.encoders import build_encoder
    from m2t.model import build_model, save_checkpoint

    spec = load_yaml(SERVE_TINY_YAML)
    cfg = load_config(REPO / spec["applications"][0]["args"]["config"])
    encoder = build_encoder(cfg.encoder)
    model = build_model(cfg, stage="finetune", dim_in=encoder.hidden_size, encoder_id=encoder.encoder_id)
    ckpt = save_checkpoint(model, cfg, tmp_path / "checkpoint")
    port = free_port()  # the only two changes: a free port, and this checkpoint instead of outputs/'s
    spec["http_options"]["port"] = port
    spec["applications"][0]["args"]["checkpoint"] = str(ckpt)
    (tmp_path / "serve_tiny.yaml").write_text(yaml.safe_dump(spec))
    address = ray_cluster.get_runtime_context().gcs_address
    serve_cli = Path(sys.executable).with_name("serve")
    try:
        run = subprocess.run(
            [str(serve_cli), "run", "--non-blocking", "--address", address, str(tmp_path / "serve_tiny.yaml")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        url, deadline, status = f"http://127.0.0.1:{port}", time.time() + 150, 0
        while time.time() < deadline and status != 200:
            status, health = http(f"{url}/healthz")
            time.sleep(1)
        assert status == 200, f"/healthz never answered 200: {serve.status()}"
        status, out = http(f"{url}/v1/describe", {"wild_type": "MKTAYIAKQRQISFVKSHFSRQ", "mutations": "K2R"})
        assert status == 200, out
        assert out["mutations"] == ["K2R"] and isinstance(out["description"], str)
        assert out["model"].startswith("m2t:tiny+")  # the tiny config's LLM, from the checkpoint we made
        status, bad = http(f"{url}/v1/describe", {"wild_type": "MKTAYIAKQR", "mutations": "A2R"})
        assert status == 422, bad  # K at position 2, not A: the app's own input check, through the config's route
    finally:
        serve.shutdown()
