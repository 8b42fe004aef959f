"""The web console at /console: static files with a strict policy, and its overview feed.

The page carries no secret: it asks for the API token, keeps it in the tab's session
storage and calls the same API as any client. Every console response forbids inline
script and style, other origins and framing, so a value that slipped into the page as
markup could still not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from .errors import NotFound
from .overview import OverviewBody
from .routes import require_token, runtime

STATIC = Path(__file__).parent / "console"
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The files change with the service version; revalidating costs one small request.
    "Cache-Control": "no-cache",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def load_files(folder: Path = STATIC) -> dict[str, tuple[bytes, str]]:
    """Every servable file by name, read once: no path from a request touches the disk."""
    return {
        path.name: (path.read_bytes(), TYPES[path.suffix])
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in TYPES
    }


def console_router(files: dict[str, tuple[bytes, str]] | None = None) -> APIRouter:
    """Routes of the console; left out of the OpenAPI document (they are not the API)."""
    served = load_files() if files is None else files
    router = APIRouter(include_in_schema=False)

    @router.get("/console")
    async def console_root() -> Response:
        # Relative module paths in index.html resolve against /console/.
        return RedirectResponse("/console/", status_code=308, headers=HEADERS)

    @router.get("/console/")
    async def console_index() -> Response:
        return _file(served, "index.html")

    @router.get("/console/api/overview", dependencies=[Depends(require_token)])
    async def console_overview(request: Request) -> OverviewBody:
        return runtime(request).overview.body()

    @router.get("/console/{name}")
    async def console_file(name: str) -> Response:
        return _file(served, name)

    return router


def _file(served: dict[str, tuple[bytes, str]], name: str) -> Response:
    if name not in served:
        raise NotFound(f"No console file '{name}'.")
    body, media_type = served[name]
    return Response(body, media_type=media_type, headers=HEADERS)
