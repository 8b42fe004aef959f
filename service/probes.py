"""Probes and metrics: open endpoints (no API token) for Kubernetes and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import auth
from .responses import ErrorBody, Health
from .runtime import Runtime

probes = APIRouter(tags=["probes"])


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@probes.get(
    "/health", response_model=Health, responses={503: {"model": Health}}, operation_id="health"
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
    responses={503: {"description": "A background loop has stopped."}},
    operation_id="liveness",
)
async def livez(request: Request) -> JSONResponse:
    """Liveness: 200 while the process and its loops run, whatever Redis does. No auth."""
    stopped = runtime(request).stopped_loops
    if stopped:
        return JSONResponse({"status": "dead", "stoppedLoops": stopped}, status_code=503)
    return JSONResponse({"status": "alive"})


@probes.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: {"model": ErrorBody}},
    operation_id="metrics",
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; needs `Bearer METRICS_TOKEN` only when that is set."""
    rt = runtime(request)
    if rt.metrics_token is not None:
        auth.check(request, rt.metrics_token)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
