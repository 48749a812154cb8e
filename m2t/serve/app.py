"""The Ray Serve application: one deployment, a FastAPI ingress, dynamic batching across requests.

    serve run m2t.serve.app:build_app config=jobs/configs/tiny.yaml checkpoint=outputs/finetune/checkpoint
    serve run jobs/configs/serve.yaml            # Ray Serve config file; same import path and args
    python jobs/serve.py                         # starts Ray, runs this app, prints the URL

``M2TServer.submit`` puts one prepared item into ``_generate_batch``, which ``@serve.batch``
calls with up to ``serve.max_batch_size`` items gathered from concurrent requests. When a batch forms
is decided by :class:`m2t.serve.gate.BatchGate` (while the replica is free, once the clients seen
lately are all waiting, or ``serve.batch_wait_timeout_s`` after the replica became free); the work is the
plain :meth:`m2t.serve.service.DescribeService.describe`, run in the replica's one worker thread so the
replica keeps accepting (and queueing) requests meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ray import serve
from ray.serve import Application

from m2t.config import Config, ServeConfig, load_config, refuse_uri
from m2t.infer.describer import finetuned_checkpoint
from m2t.placement import replica_resources
from m2t.serve.gate import BATCHER_WINDOW_S, BatchGate
from m2t.serve.http import API_KEY_ENV, create_http_app, key_digest
from m2t.serve.prepare import Job
from m2t.serve.schemas import DescribeResponse, ModelInfo
from m2t.serve.service import DescribeService


@serve.deployment(name="m2t")
@serve.ingress()
class M2TServer:
    """One replica: the model, the encoder, the wild-type cache, and the HTTP routes of :mod:`m2t.serve.http`."""

    def __init__(self, *, cfg: Config, checkpoint: str, api_key_sha256: str | None) -> None:
        self.service = DescribeService(cfg=cfg, checkpoint=Path(checkpoint))
        self.limits, self.defaults = self.service.limits, self.service.defaults  # what m2t.serve.prepare checks against
        self.max_batch_items = cfg.serve.max_batch_items
        self.max_body_bytes, self.api_key_sha256 = cfg.serve.max_body_bytes, api_key_sha256
        self._gate = BatchGate(capacity=cfg.serve.max_batch_size, max_wait_s=cfg.serve.batch_wait_timeout_s)
        self._generate_batch.set_max_batch_size(cfg.serve.max_batch_size)
        self._generate_batch.set_batch_wait_timeout_s(BATCHER_WINDOW_S)  # the gate does the waiting
        # one thread runs every batch (batches never overlap, see submit), so the replica keeps serving HTTP meanwhile
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="m2t-generate")

    def __serve_build_asgi_app__(self) -> Any:
        return create_http_app(self, max_body_bytes=self.max_body_bytes, api_key_sha256=self.api_key_sha256)

    async def submit(self, job: Job) -> DescribeResponse:
        """Queue ``job`` for the next batch, through the gate of :mod:`m2t.serve.gate`: it waits until the
        replica is free and as many requests wait as clients were seen lately (up to ``serve.max_batch_size``),
        or ``serve.batch_wait_timeout_s`` has passed."""
        async with self._gate.admit(id(job)):
            return await self._generate_batch(job)

    @serve.batch  # sizes are set from the config in __init__
    async def _generate_batch(self, jobs: list[Job]) -> list[DescribeResponse]:
        async with self._gate.generating(id(job) for job in jobs):
            return await asyncio.get_running_loop().run_in_executor(self._worker, self.service.describe, jobs)

    def info(self) -> ModelInfo:
        info = self.service.info()
        gate = {"requests_inside": self._gate.inside, "waiting_at_gate": self._gate.waiting}
        return info.model_copy(update={"stats": info.stats.model_copy(update=gate)})

    def check_health(self) -> None:
        """Serve calls this periodically; raising marks the replica unhealthy and Serve replaces it."""
        self.service.check_health()


def deployment_options(serve_cfg: ServeConfig) -> dict[str, Any]:
    """``Deployment.options`` from the serve section: resources (:func:`m2t.placement.replica_resources`),
    autoscaling, queue bound, health checks."""
    return {
        "ray_actor_options": replica_resources(serve_cfg),
        "max_ongoing_requests": serve_cfg.max_ongoing_requests,
        "health_check_period_s": serve_cfg.health_check_period_s,
        "autoscaling_config": {
            "min_replicas": serve_cfg.min_replicas,
            "max_replicas": serve_cfg.max_replicas,
            "target_ongoing_requests": serve_cfg.target_ongoing_requests,
        },
    }


def make_app(cfg: Config, checkpoint: str | Path | None = None, *, api_key: str | None = None) -> Application:
    """The bound application for a validated config; with ``api_key``, /v1 needs ``Authorization: Bearer <api_key>``.

    Only the key's SHA-256 digest goes into the deployment's arguments.
    """
    path = finetuned_checkpoint(cfg, checkpoint).resolve()
    return M2TServer.options(**deployment_options(cfg.serve)).bind(
        cfg=cfg, checkpoint=str(path), api_key_sha256=key_digest(api_key) if api_key else None
    )


class AppArgs(BaseModel):
    """Arguments of :func:`build_app` (the ``args:`` block of a Serve config file, or ``serve run ... key=value``)."""

    model_config = ConfigDict(extra="forbid")
    config: str | None = Field(None, description="m2t YAML config; null = jobs/configs/tiny.yaml.")
    checkpoint: str | None = Field(None, description="Checkpoint directory; null = <output.root>/finetune/checkpoint.")
    overrides: list[str] = Field(
        [],
        description="Config overrides, e.g. ['serve.max_batch_size=16'] (from the "
        "`serve run` command line: one string, space-separated).",
    )

    @field_validator("config", "checkpoint", mode="before")
    @classmethod
    def _local(cls, value: Any) -> Any:
        return refuse_uri(value)

    @field_validator("overrides", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value


def build_app(args: dict[str, Any]) -> Application:
    """Serve's application builder (import path ``m2t.serve.app:build_app``); M2T_API_KEY is read from its environment."""
    parsed = AppArgs.model_validate(args or {})
    return make_app(
        load_config(parsed.config, parsed.overrides), parsed.checkpoint, api_key=os.environ.get(API_KEY_ENV) or None
    )
