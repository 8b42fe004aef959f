"""Tracing: opt-in OpenTelemetry spans, and W3C trace context on every webhook request."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import __version__
from .config import Settings

_propagator = TraceContextTextMapPropagator()


def _exporter(settings: Settings) -> SpanExporter:
    if settings.tracing_exporter == "console":
        return ConsoleSpanExporter()
    if settings.otel_exporter_otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = (
            settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
        )
        return OTLPSpanExporter(endpoint=endpoint, insecure=_plain(endpoint))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    endpoint = settings.otel_exporter_otlp_traces_endpoint
    if not endpoint and settings.otel_exporter_otlp_endpoint:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return HttpSpanExporter(endpoint=endpoint)


def _plain(endpoint: str | None) -> bool:
    return bool(endpoint) and not str(endpoint).startswith("https://")


class Tracing:
    """Spans when enabled; when not, only a fresh traceparent per webhook request."""

    def __init__(self, settings: Settings, *, processor: SpanProcessor | None = None) -> None:
        self.provider: TracerProvider | None = None
        if processor is None and settings.tracing_exporter is not None:
            processor = BatchSpanProcessor(_exporter(settings))
        if processor is not None:
            resource = Resource.create(
                {"service.name": settings.otel_service_name, "service.version": __version__}
            )
            self.provider = TracerProvider(resource=resource)
            self.provider.add_span_processor(processor)
        self.tracer = trace.get_tracer("scheduler-api", __version__, tracer_provider=self.provider)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()

    @contextmanager
    def server_span(self, name: str, headers: Mapping[str, str]) -> Iterator[Span | None]:
        """A SERVER span for one API request, continuing the caller's trace if it sent one."""
        if not self.enabled:
            yield None
            return
        parent = _propagator.extract(headers)
        with self.tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
            yield span

    @contextmanager
    def delivery_span(self, name: str, scheduled_by: str) -> Iterator[Span | None]:
        """A CLIENT span for one attempt, linked to the request that scheduled the message."""
        if not self.enabled:
            yield None
            return
        links = []
        origin = trace.get_current_span(_propagator.extract({"traceparent": scheduled_by}))
        if scheduled_by and origin.get_span_context().is_valid:
            links.append(Link(origin.get_span_context()))
        with self.tracer.start_as_current_span(
            name, context=Context(), kind=SpanKind.CLIENT, links=links
        ) as span:
            yield span

    def current_traceparent(self) -> str:
        """The active span's context as a traceparent value, '' when tracing is off."""
        if not self.enabled:
            return ""
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        return carrier.get("traceparent", "")


def outgoing_traceparent(span: Span | None) -> str:
    """Header value for a webhook request: the attempt span's context, or a fresh one."""
    if span is not None and span.get_span_context().is_valid:
        context = span.get_span_context()
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    # Not sampled: nothing is recorded, but the receiver can still correlate its logs.
    # Trace ids need to be unique, not secret, so the fast generator is enough.
    return f"00-{random.getrandbits(128):032x}-{random.getrandbits(64) or 1:016x}-00"
