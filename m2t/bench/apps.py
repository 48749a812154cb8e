"""The real Serve app, deployed for benchmarking: a checkpoint to serve and several variants side by side.

Each variant is the app of :func:`m2t.serve.app.make_app` for one config (e.g. ``serve.max_batch_size=1``),
deployed under its own route prefix on one Serve HTTP proxy bound to 127.0.0.1 and a free port, so
the variants can be measured in alternation. Serve is shut down afterwards.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import torch

from m2t.config import Config
from m2t.encoders import build_encoder
from m2t.model import build_model, save_checkpoint


def bench_checkpoint(cfg: Config, out_dir: Path) -> Path:
    """An untrained stage-2 checkpoint of ``cfg`` (random adapter and LoRA on the configured LLM and encoder)."""
    encoder = build_encoder(cfg.encoder)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, stage="finetune", dim_in=encoder.hidden_size, encoder_id=encoder.encoder_id)
    return save_checkpoint(model, cfg, out_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(variants: dict[str, Config], checkpoint: Path) -> Iterator[dict[str, str]]:
    """Deploy one app per variant (name -> config) and yield name -> base URL (``http://127.0.0.1:PORT/<name>``).

    The proxy's request timeout is the longest ``serve.request_timeout_s`` of the variants."""
    from ray import serve

    from m2t.serve.app import make_app

    port = free_port()
    timeout = max(cfg.serve.request_timeout_s for cfg in variants.values())
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": timeout})
    try:
        urls = {}
        for name, cfg in variants.items():
            serve.run(make_app(cfg, checkpoint), name=f"m2t-bench-{name}", route_prefix=f"/{name}")
            urls[name] = f"http://127.0.0.1:{port}/{name}"
        for url in urls.values():
            wait_healthy(url)
        yield urls
    finally:
        serve.shutdown()


def wait_healthy(url: str, *, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the benchmark app at {url} did not become healthy within {timeout_s:.0f} s")
        time.sleep(0.5)


def stats(url: str) -> dict:
    """The replica's counters from ``GET /v1/model``."""
    response = httpx.get(f"{url}/v1/model", timeout=30)
    response.raise_for_status()
    return response.json()["stats"]
