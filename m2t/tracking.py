"""Experiment tracking: training and evaluation runs in MLflow (docs/train.md, "Experiment tracking").

Where: ``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite database, ``<output.root>/mlflow.db``, with
the artifacts in ``<output.root>/mlartifacts`` (MLflow's recommended local store; its file store, ``mlruns/``, is in
maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE=true`` and stays selectable: ``tracking.uri=DIR``). With
``tracking: none`` nothing is written, nothing is contacted and mlflow is not even imported.

Ray Train V2 takes no logger callbacks, so the driver opens the run (:func:`open_run`) and hands its
:class:`RunRef` (plain data) to the workers, where rank 0 logs each step through a :class:`Tracker`. A run is
found again by a key (a training run's key is its Ray Train run directory), so a restarted worker group and a
rerun of the same command continue the same MLflow run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from m2t.config import Config
from m2t.errors import M2TError

log = logging.getLogger(__name__)
KEY_TAG, KEY_TEXT_TAG = "m2t.run_key", "m2t.run_key_text"  # the key's hash (searched for) and the key itself
FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"  # MLflow 3 keeps its file store in maintenance mode behind this opt-in
UI_PORT = 5000  # `mlflow ui`'s default
DB, ARTIFACTS = "mlflow.db", "mlartifacts"  # the default store under output.root, and its artifacts beside it


@dataclass(frozen=True, kw_only=True)
class RunRef:
    """One MLflow run, as plain data: it travels to Ray workers and into checkpoints (``dataclasses.asdict``)."""

    uri: str
    experiment_id: str
    run_id: str
    run_name: str

    def how_to_open(self, *, mlflow: str = "mlflow") -> str:
        """Where a person sees the run: the server's page, or the `mlflow ui` command (``mlflow``: the program)
        and its page."""
        page = f"#/experiments/{self.experiment_id}/runs/{self.run_id}"
        if self.uri.startswith(("http://", "https://")):
            return f"{self.uri.rstrip('/')}/{page}"
        env = f"{FILE_STORE_ENV}=true " if is_file_store(self.uri) else ""
        return f"{env}{mlflow} ui --backend-store-uri {self.uri}  then  http://127.0.0.1:{UI_PORT}/{page}"


def tracking_uri(cfg: Config) -> str | None:
    """The tracking URI of ``cfg``, or None when tracking is off."""
    if cfg.tracking.backend == "none":
        return None
    return cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(cfg.output.root)


def default_uri(root: str | Path) -> str:
    """The default store of an output root: ``sqlite:////<root>/mlflow.db`` (four slashes: an absolute path)."""
    return f"sqlite:///{Path(root).absolute() / DB}"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///FILE`` URI (relative to the working directory with three slashes)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def is_file_store(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")


def client(uri: str):
    """An ``MlflowClient`` for ``uri`` (mlflow is imported here, only when tracking is on)."""
    if is_file_store(uri):
        os.environ.setdefault(FILE_STORE_ENV, "true")  # the user chose the file store (tracking.uri=DIR)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested data as MLflow params: dotted keys, JSON text for non-strings, cut to MLflow's length limit."""
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            note = f"... ({len(text)} chars)"
            text = text[: MAX_PARAM_VAL_LENGTH - len(note)] + note
        out[f"{prefix}{key}"] = text
    return out


def _experiment_id(mlflow_client, name: str, uri: str) -> str:
    found = mlflow_client.get_experiment_by_name(name)
    if found is None:
        db = sqlite_file(uri)  # MLflow would put a SQLite store's artifacts in ./mlruns of the working directory
        where = (db.absolute().parent / ARTIFACTS / name).as_uri() if db else None
        try:
            return mlflow_client.create_experiment(name, artifact_location=where)
        except Exception:  # another job created it meanwhile
            found = mlflow_client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise M2TError(f"MLflow experiment {name!r} is deleted; restore it or set tracking.experiment to another name")
    return found.experiment_id


def open_run(cfg: Config, *, name: str, key: str | None, tags: dict[str, str], params: dict[str, str]) -> RunRef | None:
    """The MLflow run of ``key``, running: the active run tagged with it, else a new run named ``name`` (``key``
    None: always a new run). Params it lacks are logged; MLflow params never change, so a changed value keeps
    the logged one, with a warning. None when tracking is off; :class:`M2TError` when MLflow cannot be reached."""
    uri = tracking_uri(cfg)
    if uri is None:
        return None
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH

    try:
        mlflow_client = client(uri)
        experiment = _experiment_id(mlflow_client, cfg.tracking.experiment, uri)
        digest = hashlib.sha256(key.encode()).hexdigest()[:32] if key else None
        found = mlflow_client.search_runs([experiment], f"tags.`{KEY_TAG}` = '{digest}'", max_results=1) if key else []
        if found:
            run = found[0]
            mlflow_client.update_run(run.info.run_id, status="RUNNING")
            log.info("MLflow: continuing run %s (%s) in %s", run.info.run_id, run.info.run_name, uri)
        else:
            keyed = {KEY_TAG: digest, KEY_TEXT_TAG: key} if key else {}
            run = mlflow_client.create_run(experiment, run_name=name, tags={**tags, **keyed})
            log.info("MLflow: new run %s (%s) in %s", run.info.run_id, name, uri)
        logged = run.data.params
        for k, v in params.items():
            if k in logged and logged[k] != v:
                log.warning("MLflow run %s keeps param %s=%r (now %r): params cannot change", name, k, logged[k], v)
        todo = [Param(k, v) for k, v in params.items() if k not in logged]
        for start in range(0, len(todo), MAX_PARAMS_TAGS_PER_BATCH):
            mlflow_client.log_batch(run.info.run_id, params=todo[start : start + MAX_PARAMS_TAGS_PER_BATCH])
    except M2TError:
        raise
    except Exception as exc:
        raise M2TError(
            f"MLflow tracking at {uri} failed: {type(exc).__name__}: {str(exc)[:300]}; start or fix the server "
            f"(tracking.uri / MLFLOW_TRACKING_URI), or switch tracking off with tracking=none"
        ) from exc
    return RunRef(uri=uri, experiment_id=experiment, run_id=run.info.run_id, run_name=run.info.run_name)


def find_run(cfg: Config, run_id: str) -> RunRef | None:
    """The run ``run_id`` in ``cfg``'s tracking store when it is there (and not deleted), else None."""
    uri = tracking_uri(cfg)
    if uri is None:
        return None
    try:
        run = client(uri).get_run(run_id)
    except Exception as exc:
        log.info("MLflow: run %s is not in %s (%s)", run_id, uri, type(exc).__name__)
        return None
    if run.info.lifecycle_stage != "active":
        return None
    return RunRef(uri=uri, experiment_id=run.info.experiment_id, run_id=run_id, run_name=run.info.run_name)


class Tracker:
    """Logs into one run. The job goes on when MLflow fails: the first failure is logged and tracking stops for
    this process (the job's own files, e.g. metrics.jsonl, still hold everything)."""

    def __init__(self, ref: RunRef):
        self.ref = ref
        self.client = client(ref.uri)
        self.broken = False

    def _call(self, what: str, fn, *args, **kwargs) -> None:
        if self.broken:
            return
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            self.broken = True
            log.warning(
                "MLflow: %s failed for run %s at %s (%s: %s); not tracking further in this process",
                what,
                self.ref.run_id,
                self.ref.uri,
                type(exc).__name__,
                str(exc)[:300],
            )

    def metrics(self, values: dict[str, float], *, step: int) -> None:
        """Log ``values`` (numbers; None and non-numbers are skipped) at ``step``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(k, float(v), now, step)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if batch:
            self._call("logging metrics", self.client.log_batch, self.ref.run_id, metrics=batch)

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        """Upload the file ``path`` (into ``folder`` of the run's artifacts)."""
        self._call(f"uploading {Path(path).name}", self.client.log_artifact, self.ref.run_id, str(path), folder)

    def tags(self, values: dict[str, str]) -> None:
        for k, v in values.items():
            self._call(f"tagging {k}", self.client.set_tag, self.ref.run_id, k, v)

    def finish(self, status: str = "FINISHED") -> None:
        """End the run as ``FINISHED``, ``FAILED`` or ``KILLED`` (continuing it later sets it running again)."""
        self._call("ending the run", self.client.set_terminated, self.ref.run_id, status)
