"""Tracing: opt-in OpenTelemetry spans configured by the standard OTEL_* variables, and W3C
trace context on every webhook request."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, ProxyTracerProvider, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import __version__

_propagator = TraceContextTextMapPropagator()
PROTOCOLS = ("http/protobuf", "grpc")


class TracingConfigError(ValueError):
    """An OTEL_* variable holds a value the service cannot act on."""


def exporter_name(environ: Mapping[str, str]) -> str | None:
    """`otlp`, `console` or None (traces off), from the standard variables.

    OTEL_SDK_DISABLED=true turns everything off. OTEL_TRACES_EXPORTER chooses; unset, an
    OTLP endpoint variable means `otlp`. The specification's default is `otlp` even then,
    but an exporter sending to a collector nobody runs logs an error per batch, so a
    service without any OTEL_* setting exports nothing.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    choice = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if choice in ("otlp", "console"):
        return choice
    if choice not in ("", "none"):
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER={choice!r}: use otlp, console or none")
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return "otlp" if not choice and endpoint else None


def otlp_protocol(environ: Mapping[str, str]) -> str:
    """The traces protocol: the signal-specific variable first, then the general one."""
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in PROTOCOLS:
        raise TracingConfigError(
            f"OTLP protocol {protocol!r} is not supported: use {' or '.join(PROTOCOLS)}"
        )
    return protocol


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse at start an OTEL_* value the service would fail on later."""
    if exporter_name(environ) == "otlp":
        otlp_protocol(environ)


def export_dotenv_otel(path: Path) -> None:
    """Put the OTEL_* lines of a .env file into the environment, where the SDK reads them.

    Settings read .env themselves; the SDK reads only the environment. A variable set
    in the environment wins over the file, as it does for every other setting.
    """
    if not path.is_file():
        return
    for name, value in dotenv_values(path).items():
        if name.upper().startswith("OTEL_") and value is not None:
            os.environ.setdefault(name.upper(), value)


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    # Built without arguments: each exporter reads its endpoint, headers, certificates,
    # compression and timeout from the OTEL_EXPORTER_OTLP_* variables itself.
    if name == "console":
        return ConsoleSpanExporter()
    if otlp_protocol(environ) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def _resource() -> Resource:
    """Our name and version, under whatever OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say."""
    ours = Resource.create({"service.name": "scheduler-api", "service.version": __version__})
    return ours.merge(OTELResourceDetector().detect())


class Tracing:
    """Spans when the OTEL_* variables ask for them; else only a fresh traceparent per
    webhook request.

    When on, the provider is also the process's global one (so instrumentation
    libraries and user code join the same traces) and redis-py is instrumented: every
    Redis command and pipeline becomes a child span of the request or attempt that ran it.
    """

    def __init__(
        self,
        *,
        processor: SpanProcessor | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.provider: TracerProvider | None = None
        self._redis_instrumented = False
        if processor is None:
            name = exporter_name(environ)
            if name is not None:
                processor = BatchSpanProcessor(_exporter(name, environ))
        if processor is not None:
            # The provider reads OTEL_TRACES_SAMPLER and its argument itself.
            self.provider = TracerProvider(resource=_resource())
            self.provider.add_span_processor(processor)
            _make_global(self.provider)
            if "redis" not in disabled_instrumentations(environ):
                self._redis_instrumented = _instrument_redis(self.provider)
        self.tracer = trace.get_tracer("scheduler-api", __version__, tracer_provider=self.provider)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        if self._redis_instrumented:
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            RedisInstrumentor().uninstrument()
            self._redis_instrumented = False
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


def disabled_instrumentations(environ: Mapping[str, str]) -> set[str]:
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, the variable auto-instrumentation reads too."""
    names = environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return {name.strip().lower() for name in names.split(",") if name.strip()}


def _make_global(provider: TracerProvider) -> None:
    """Install `provider` as the global one, unless something set one before us.

    The API allows setting it once per process; an embedding program (or a test that
    builds several apps) keeps the first, and our spans still go to ours.
    """
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        trace.set_tracer_provider(provider)


def _instrument_redis(provider: TracerProvider) -> bool:
    """Spans for redis-py commands, through the maintained instrumentation package."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    instrumentor = RedisInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return False  # another Tracing in this process did it; it undoes it too
    instrumentor.instrument(tracer_provider=_ChildrenOnly(provider))
    return True


class _ChildrenOnly(trace.TracerProvider):
    """Tracers that record a span only inside another one.

    The claim loop, the lease and housekeeping run Redis commands many times a second
    outside any request or attempt: as root spans they would be a trace per command,
    all noise. Inside an API request or a delivery attempt, a command is a child span.
    """

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ChildTracer(self.provider.get_tracer(*args, **kwargs))


class _ChildTracer(trace.Tracer):
    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def start_span(
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self.tracer.start_span(name, context, *args, **kwargs)

    @contextmanager  # the API's own decorator is private; this one does the same here
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        span = self.start_span(name, context, *args, **kwargs)
        with trace.use_span(span, end_on_exit=True) as current:
            yield current


def outgoing_traceparent(span: Span | None) -> str:
    """Header value for a webhook request: the attempt span's context, or a fresh one."""
    if span is not None and span.get_span_context().is_valid:
        context = span.get_span_context()
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    # Not sampled: nothing is recorded, but the receiver can still correlate its logs.
    # Trace ids need to be unique, not secret, so the fast generator is enough.
    return f"00-{random.getrandbits(128):032x}-{random.getrandbits(64) or 1:016x}-00"
