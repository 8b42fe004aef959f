"""The application factory: wires settings, telemetry, middleware, errors and routes."""

from __future__ import annotations

from fastapi import FastAPI

from . import __version__, errors, mcp_endpoint, openapi
from .config import Settings
from .console_routes import console_router
from .metrics import Metrics
from .middleware import BodyLimit, Instrumentation
from .probes import probes
from .routes import api
from .runtime import Runtime
from .telemetry import Tracing

DESCRIPTION = """
Schedule a JSON POST to any URL for a given time. Messages live in Redis, survive
restarts, and are delivered at least once, on time, by whichever replica claims them.

Every endpoint except `/health`, `/livez`, `/metrics`, these documentation pages and
the console's static files needs `Authorization: Bearer <API_TOKEN>`. Errors share one shape:
`{"detail": "what is wrong", "code": "...", "errors": [{"field", "message"}]}`.
"""


def create_app(settings: Settings, *, tracing: Tracing | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts."""
    metrics = Metrics()
    tracing = tracing or Tracing()
    runtime = Runtime(settings, metrics=metrics, tracing=tracing)
    docs = settings.docs_enabled
    app = FastAPI(
        title="Scheduler API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=runtime.lifespan,
        openapi_tags=openapi.TAGS,
        # DOCS_ENABLED=false closes /docs, /redoc and /openapi.json (open, like the probes).
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(api)
    app.include_router(probes)
    if settings.console_enabled:
        app.include_router(console_router())
    if settings.mcp_enabled:
        mcp_endpoint.mount(app, runtime)
    app.add_middleware(BodyLimit, limit=settings.max_payload_bytes)
    app.add_middleware(Instrumentation, metrics=metrics, tracing=tracing)
    return app
