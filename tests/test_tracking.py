"""m2t.tracking against a real MLflow store (no Ray): where runs go (the SQLite default, the file store when chosen),
finding a run again by its key, params flattened within MLflow's limits, tracking that never stops a job, and
`tracking: none` touching nothing."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from mlflow import MlflowClient

from m2t.config import load_config
from m2t.errors import M2TError
from m2t.tracking import Tracker, default_uri, find_run, flatten, open_run, tracking_uri


def tiny(root, *extra):
    return load_config(None, [f"output.root={root}", *extra])


def test_where_runs_go(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tiny(tmp_path)) == f"sqlite:///{tmp_path}/mlflow.db"  # the default: SQLite, absolute
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
    assert tracking_uri(tiny(tmp_path)) == "http://team-server:5000"
    assert tracking_uri(tiny(tmp_path, f"tracking.uri={tmp_path / 'elsewhere'}")) == str(tmp_path / "elsewhere")
    assert tracking_uri(tiny(tmp_path, "tracking=none")) is None
    assert tracking_uri(tiny(tmp_path, "tracking.backend=none")) is None


def test_flatten_gives_dotted_keys_json_values_and_cuts_long_values():
    flat = flatten({"a": {"b": 1, "c": [1, 2], "d": {}}, "e": "text", "f": None, "g": "x" * 7000})
    assert {k: flat[k] for k in ("a.b", "a.c", "a.d", "e", "f")} == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "a.d": "{}",
        "e": "text",
        "f": "null",
    }
    assert len(flat["g"]) == 6000 and flat["g"].endswith("... (7000 chars)")


def test_a_key_finds_its_run_again_and_params_never_change(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tiny(tmp_path)
    params = flatten(cfg.model_dump(mode="json"))
    assert len(params) > 100  # more than one log_batch of params
    first = open_run(cfg, name="pretrain-x", key="/runs/pretrain-x", tags={"m2t.stage": "pretrain"}, params=params)
    Tracker(first).finish()
    changed = {**params, "train.max_failures": "7", "new.key": "1"}
    with caplog.at_level(logging.WARNING, logger="m2t.tracking"):
        again = open_run(cfg, name="pretrain-x", key="/runs/pretrain-x", tags={}, params=changed)
    other = open_run(cfg, name="pretrain-x", key="/elsewhere/pretrain-x", tags={}, params=params)
    assert again == first and other.run_id != first.run_id
    run = MlflowClient(default_uri(tmp_path)).get_run(first.run_id)
    assert run.info.status == "RUNNING"  # continued
    assert run.data.params == {**params, "new.key": "1"}  # the logged value kept
    assert "keeps param train.max_failures='2' (now '7')" in caplog.text
    assert find_run(cfg, first.run_id) == first and find_run(cfg, "0" * 32) is None


def test_the_sqlite_default_keeps_artifacts_beside_it_and_the_file_store_stays_selectable(tmp_path, monkeypatch):
    """The default store's artifacts go to <output.root>/mlartifacts, not to ./mlruns of wherever the job ran
    (MLflow's own default for a SQLite store); tracking.uri=DIR still gives MLflow's file store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    (tmp_path / "a.txt").write_text("a")
    ref = open_run(tiny(tmp_path / "out"), name="x", key=None, tags={}, params={"p": "1"})
    Tracker(ref).artifact(tmp_path / "a.txt")
    assert (tmp_path / "out" / "mlflow.db").is_file() and ref.uri == default_uri(tmp_path / "out")
    assert [p.name for p in (tmp_path / "out" / "mlartifacts").rglob("a.txt")] == ["a.txt"]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    files = open_run(
        tiny(tmp_path / "out", f"tracking.uri={tmp_path / 'mlruns'}"), name="y", key=None, tags={}, params={}
    )
    assert MlflowClient(str(tmp_path / "mlruns")).get_run(files.run_id).info.run_name == "y"


def test_tracking_never_stops_the_job(tmp_path, monkeypatch, caplog):
    """An unreachable server: opening a run fails with the fix named; a tracker warns once and goes quiet."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = tiny(tmp_path, f"tracking.uri=http://127.0.0.1:{port}")
    with pytest.raises(M2TError, match=rf"MLflow tracking at http://127.0.0.1:{port} failed.*tracking=none"):
        open_run(cfg, name="x", key="k", tags={}, params={})
    ok = open_run(tiny(tmp_path), name="x", key=None, tags={}, params={})
    broken = Tracker(type(ok)(uri=f"http://127.0.0.1:{port}", experiment_id="1", run_id=ok.run_id, run_name="x"))
    with caplog.at_level(logging.WARNING, logger="m2t.tracking"):
        broken.metrics({"loss": 1.0}, step=1)
        broken.metrics({"loss": 0.5}, step=2)
        broken.artifact(tmp_path / "nothing.txt")
    assert broken.broken and caplog.text.count("not tracking further") == 1


def test_tracking_none_writes_nothing_and_contacts_nothing(tmp_path, monkeypatch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{listener.getsockname()[1]}")
        cfg = tiny(tmp_path, "tracking=none")
        assert open_run(cfg, name="x", key="k", tags={}, params={"a": "1"}) is None
        assert find_run(cfg, "abc") is None
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert list(tmp_path.iterdir()) == []


def test_a_run_ref_says_how_to_open_it():
    from m2t.tracking import RunRef

    local = RunRef(uri="sqlite:////o/mlflow.db", experiment_id="3", run_id="abc", run_name="pretrain-x")
    assert local.how_to_open() == (
        "mlflow ui --backend-store-uri sqlite:////o/mlflow.db  then  http://127.0.0.1:5000/#/experiments/3/runs/abc"
    )
    files = RunRef(uri="/o/mlruns", experiment_id="3", run_id="abc", run_name="pretrain-x")
    assert files.how_to_open().startswith("MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri /o/mlruns  then")
    server = RunRef(uri="http://mlflow.team:5000/", experiment_id="3", run_id="abc", run_name="pretrain-x")
    assert server.how_to_open() == "http://mlflow.team:5000/#/experiments/3/runs/abc"
    assert json.loads(json.dumps(local.__dict__)) == local.__dict__  # plain data: travels to workers, checkpoints
