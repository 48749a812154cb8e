"""Serve a finetuned checkpoint over HTTP with Ray Serve (FastAPI ingress, dynamic batching); Ctrl-C stops it.

    python jobs/serve.py                                     # outputs/finetune/checkpoint on 127.0.0.1:8000
    python jobs/serve.py --checkpoint DIR --port 9000 serve.max_batch_size=16
    python jobs/serve.py serve.route_prefix=/m2t             # under a path: the page at :8000/m2t/, the API at /m2t/v1
    M2T_API_KEY=$(openssl rand -hex 16) python jobs/serve.py --host 0.0.0.0   # exposed: require a key

Connects to the Ray cluster in RAY_ADDRESS (or one started with `ray start` here), else starts a
local one. The same app runs with Ray's own tools: `serve run jobs/configs/serve.yaml`.
"""

from __future__ import annotations

import os
import signal
import time

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load, local_path
from m2t.infer.describer import finetuned_checkpoint
from m2t.serve.app import make_app
from m2t.serve.http import API_KEY_ENV


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=local_path, default=None, help="checkpoint dir (default: outputs/finetune/checkpoint)"
    )
    parser.add_argument("--host", default=None, help="bind address (default: serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: serve.port, 8000)")
    args = parser.parse_args()
    cfg = load(args, [f"serve.host={args.host}"] * bool(args.host) + [f"serve.port={args.port}"] * bool(args.port))
    checkpoint = finetuned_checkpoint(cfg, args.checkpoint).resolve()  # fail fast (exit 2) before starting Ray

    import ray
    from ray import serve

    ray.init(**ray_init_args())
    key = os.environ.get(API_KEY_ENV)
    app = make_app(cfg, checkpoint, api_key=key or None)
    serve.start(
        http_options={"host": cfg.serve.host, "port": cfg.serve.port, "request_timeout_s": cfg.serve.request_timeout_s}
    )
    serve.run(app, name="m2t", route_prefix=cfg.serve.route_prefix)

    host = "127.0.0.1" if cfg.serve.host in ("0.0.0.0", "::") else cfg.serve.host
    url = f"http://{host}:{cfg.serve.port}{cfg.serve.route_prefix.rstrip('/')}"
    auth = f' -H "Authorization: Bearer ${API_KEY_ENV}"' if key else ""
    asks = f"  (it asks for the key: the value of ${API_KEY_ENV})" if key else ""
    print(
        f"\nm2t is serving {checkpoint} at {url}  (API docs: {url}/docs; Ctrl-C stops it)\n"
        f"  web page: {url}/{asks}\n"
        f"  curl -s {url}/healthz\n"
        f"  curl -s {url}/v1/model{auth}\n"
        f"  curl -s {url}/v1/describe{auth} -H 'content-type: application/json' \\\n"
        '       -d \'{"wild_type": "MKTAYIAKQRQISFVKSHFSRQ", "mutations": "K2R"}\'\n'
        f"  curl -s {url}/v1/describe:batch{auth} -H 'content-type: application/json' \\\n"
        '       -d \'{"items": [{"wild_type": "MKTAYIAKQR", "mutations": "K2R"}, '
        '{"wild_type": "MKTAYIAKQR", "mutant": "MKTAYIAKQW"}]}\'',
        flush=True,
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C even when started in the background
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # docker stop / kill
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping m2t", flush=True)
        serve.shutdown()
