"""Probes and metrics: open endpoints (no API token) for Kubernetes and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import auth
from .metrics import Metrics
from .responses import ErrorBody, Health, Liveness
from .runtime import Runtime

probes = APIRouter(tags=["probes"])


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


_UNHEALTHY = {
    "status": "unhealthy",
    "redis": "disconnected",
    "leader": False,
    "draining": False,
    "version": "1.0.0",
}


@probes.get(
    "/health",
    response_model=Health,
    response_description="Ready: Redis accepts writes and the replica is not draining.",
    responses={
        503: {
            "model": Health,
            "description": "Not ready: Redis cannot take a write now (`redis` says why), or "
            "the replica is draining.",
            "content": {"application/json": {"example": _UNHEALTHY}},
        }
    },
    operation_id="getHealth",
)
async def health(request: Request) -> JSONResponse:
    """Readiness: 200 while Redis accepts writes and the replica is not draining. No auth."""
    rt = runtime(request)
    condition = await rt.store_condition()
    healthy = condition is None and not rt.draining
    body = Health(
        status="healthy" if healthy else "unhealthy",
        redis="connected" if condition is None else condition.health,  # type: ignore[arg-type]
        leader=rt.is_leader,
        draining=rt.draining,
        version=rt.version,
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


@probes.get(
    "/livez",
    response_model=Liveness,
    response_description="Alive: the process and its background loops run.",
    responses={
        503: {
            "model": Liveness,
            "description": "A background loop has stopped: restart the process.",
            "content": {
                "application/json": {"example": {"status": "dead", "stoppedLoops": ["delivery"]}}
            },
        }
    },
    operation_id="getLiveness",
)
async def livez(request: Request) -> JSONResponse:
    """Liveness: 200 while the process and its loops run, whatever Redis does. No auth."""
    stopped = runtime(request).stopped_loops
    if stopped:
        return JSONResponse({"status": "dead", "stoppedLoops": stopped}, status_code=503)
    return JSONResponse({"status": "alive"})


def _metrics_example() -> str:
    """The service's first metric as /metrics serves it, taken from the metrics themselves
    so it stays true (the process collectors come first, with values that change)."""
    lines = generate_latest(Metrics().registry).decode().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("# HELP scheduler_api_"))
    return "\n".join(lines[first : first + 3]) + "\n"


@probes.get(
    "/metrics",
    response_class=Response,
    response_description="Prometheus text exposition format.",
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}, "example": _metrics_example()}}
        },
        401: {
            "model": ErrorBody,
            "description": "METRICS_TOKEN is set and the Bearer token is missing or wrong.",
            "content": {
                "application/json": {
                    "example": {
                        "detail": "Missing token: send 'Authorization: Bearer <API_TOKEN>'.",
                        "code": "unauthorized",
                    }
                }
            },
        },
    },
    operation_id="getMetrics",
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; needs `Bearer METRICS_TOKEN` only when that is set."""
    rt = runtime(request)
    if rt.metrics_token is not None:
        auth.check(request, rt.metrics_token)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
