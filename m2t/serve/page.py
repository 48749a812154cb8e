"""The web page on the endpoint: ``GET /`` is a form that calls ``v1/describe`` from the browser.

Static files only (``m2t/serve/static/``: HTML, CSS, plain JavaScript; no build step, nothing from the internet),
shipped as package data. Every URL in them is relative, so the page works under any path prefix (a Serve
``route_prefix`` or a reverse proxy's): at ``<prefix>/`` the script and the API resolve to ``<prefix>/static/...``
and ``<prefix>/v1/...``; ``<prefix>`` without its slash is redirected there (Starlette's ``redirect_slashes``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
# The page runs only its own files and talks only to its own origin; no form posts natively (fields stay out of URLs).
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def add_page(app: FastAPI) -> None:
    """Serve ``static/index.html`` at ``/`` and the rest of ``static/`` under ``/static`` (neither in the OpenAPI)."""

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
