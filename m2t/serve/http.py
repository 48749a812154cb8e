"""The thin HTTP layer: a FastAPI app whose routes hand parsed bodies to the deployment.

Built per replica by :func:`create_http_app` (the deployment's ``__serve_build_asgi_app__``), so
the body limit and the API key's digest are plain values the replica already holds. The key
itself stays where the app was built; replicas compare SHA-256 digests with ``hmac.compare_digest``
(Ray's runtime-env agent logs env vars in clear, so the key is never sent that way). The work itself is
:func:`m2t.serve.prepare.prepare` (checks one item against ``backend.limits``; raises
:class:`~m2t.serve.schemas.FieldError`) and ``backend.submit`` (queues one prepared item into the
``@serve.batch`` generate).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Annotated, Any, Protocol

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from m2t.serve.contract import state_limits
from m2t.serve.page import add_page
from m2t.serve.prepare import Decoding, Job, Limits, prepare
from m2t.serve.schemas import (
    BATCH_EXAMPLES,
    DESCRIBE_EXAMPLES,
    BatchRequest,
    BatchResponse,
    DescribeRequest,
    DescribeResponse,
    FieldError,
    Health,
    ModelInfo,
)

API_KEY_ENV = "M2T_API_KEY"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "M2T_API_KEY is set on the server and the request has no or a wrong `Authorization: Bearer` key."
    },
    413: {"description": "The body is larger than serve.max_body_bytes."},
    422: {"description": "A field is invalid; `detail[].loc` names it and `detail[].msg` says why."},
}


class Backend(Protocol):
    max_batch_items: int
    limits: Limits
    defaults: Decoding

    async def submit(self, job: Job) -> DescribeResponse: ...

    def info(self) -> ModelInfo: ...


class BodySizeLimit:
    """ASGI middleware: 413 when the declared Content-Length or the bytes actually sent exceed ``max_bytes``.

    The body is read (at most ``max_bytes`` + one chunk) before the app sees it, then replayed.
    """

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(scope, receive, send, f"Content-Length {int(declared)}")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._reject(scope, receive, send, f"at least {size} bytes")
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, scope: dict, receive: Any, send: Any, got: str) -> None:
        msg = f"request body too large: {got}; the limit is {self.max_bytes} bytes (serve.max_body_bytes)"
        await JSONResponse({"detail": msg}, status_code=413)(scope, receive, send)


def key_digest(api_key: str) -> str:
    """SHA-256 hex of an API key: what travels to the replicas instead of the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()


_BEARER = HTTPBearer(auto_error=False, description=f"Required when the server was started with {API_KEY_ENV} set.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _auth_dependency(api_key_sha256: str | None) -> Any:
    expected = bytes.fromhex(api_key_sha256) if api_key_sha256 else None

    def require_key(credentials: Credentials) -> None:
        if expected is None:
            return
        given = hashlib.sha256(credentials.credentials.encode()).digest() if credentials else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                401,
                detail=f"missing or wrong API key: send 'Authorization: Bearer <key>' "
                f"with the key the server was started with ({API_KEY_ENV})",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(require_key)


def create_http_app(backend: Backend, *, max_body_bytes: int, api_key_sha256: str | None) -> FastAPI:
    """The FastAPI app of one replica; ``api_key_sha256=None`` leaves /v1 open (/, /healthz and /docs always are)."""
    app = FastAPI(title="m2t: Mutation2Text", version="1", summary="Describe what a protein mutation does, in English.")
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    add_page(app)
    auth = [_auth_dependency(api_key_sha256)]

    @app.exception_handler(FieldError)
    async def _field_error(request: Request, exc: FieldError) -> JSONResponse:
        return JSONResponse(jsonable_encoder({"detail": exc.errors}), status_code=422)

    @app.get("/healthz", response_model=Health, summary="Liveness: the replica is up and its model loaded.")
    async def healthz() -> Health:
        return Health()

    @app.get(
        "/v1/model",
        response_model=ModelInfo,
        dependencies=auth,
        responses=_ERRORS,
        summary="The served model, its limits and this replica's batching and cache counters.",
    )
    async def model_info() -> ModelInfo:
        return backend.info()

    @app.post(
        "/v1/describe",
        response_model=DescribeResponse,
        dependencies=auth,
        responses=_ERRORS,
        summary="Describe one mutation.",
    )
    async def describe(body: Annotated[DescribeRequest, Body(openapi_examples=DESCRIBE_EXAMPLES)]) -> DescribeResponse:
        return await backend.submit(prepare(body, loc=("body",), limits=backend.limits, defaults=backend.defaults))

    @app.post(
        "/v1/describe:batch",
        response_model=BatchResponse,
        dependencies=auth,
        responses=_ERRORS,
        summary="Describe several mutations (at most serve.max_batch_items); every invalid item is reported.",
    )
    async def describe_batch(body: Annotated[BatchRequest, Body(openapi_examples=BATCH_EXAMPLES)]) -> BatchResponse:
        if len(body.items) > backend.max_batch_items:
            raise FieldError.one(
                ("body", "items"),
                f"{len(body.items)} items; at most {backend.max_batch_items} "
                "per request (serve.max_batch_items): split the list",
                len(body.items),
            )
        jobs, errors = [], []
        for i, item in enumerate(body.items):
            try:
                jobs.append(prepare(item, loc=("body", "items", i), limits=backend.limits, defaults=backend.defaults))
            except FieldError as exc:
                errors.extend(exc.errors)
        if errors:
            raise FieldError(errors)
        return BatchResponse(items=list(await asyncio.gather(*(backend.submit(job) for job in jobs))))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:  # FastAPI's cache
            app.openapi_schema = state_limits(
                FastAPI.openapi(app),
                max_length=backend.limits.max_length,
                extended_alphabet=backend.limits.extended_alphabet,
                max_new_tokens=backend.limits.max_new_tokens_limit,
                max_batch_items=backend.max_batch_items,
            )
        return app.openapi_schema

    app.openapi = openapi
    return app
