"""Tracing: opt-in OpenTelemetry spans configured by the standard OTEL_* variables, and W3C
trace context on every webhook request."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis.asyncio.cluster
import redis.cluster
from dotenv import dotenv_values
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, ProxyTracerProvider, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from redis.exceptions import RedisClusterException, RedisError
from redis.utils import str_if_bytes

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
    cluster = _ClusterAttributes()
    instrumentor.instrument(
        tracer_provider=_ChildrenOnly(provider),
        request_hook=cluster.on_command,
        response_hook=cluster.on_response,
    )
    return True


# The keys of a connection's address, of the old and the stable semantic conventions.
_ADDRESS = frozenset({"net.peer.name", "net.peer.port", "server.address", "server.port"})
# Script and function calls: (name, script, numkeys, key, ...); COMMAND calls their keys
# "movable", so they are found the way redis-py finds them, by numkeys.
_SCRIPT_CALLS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_CLUSTERS = (redis.asyncio.cluster.RedisCluster, redis.cluster.RedisCluster)
_CLUSTER_PIPELINES = (redis.asyncio.cluster.ClusterPipeline, redis.cluster.ClusterPipeline)


class _ClusterAttributes:
    """Hooks that give a Cluster client's spans the connection attributes plain ones have.

    The instrumentation reads db.system and the server's address from
    `client.connection_pool.connection_kwargs`, and skips them when the client has no
    `connection_pool`: a RedisCluster has none (it keeps a pool per node), so its spans
    carried neither. These hooks set the same attributes with the instrumentation's own
    function, so they follow OTEL_SEMCONV_STABILITY_OPT_IN as a plain client's do. The
    address is that of the node the command goes to: the one it names (`target_nodes`),
    else the primary serving its first key's slot, as the client's slot map has it. A
    pipeline may go to several primaries, so its span gets db.system and no address; the
    instrumentation calls no request hook for a pipeline, so that happens once it answered.
    """

    def __init__(self) -> None:
        # Private to the instrumentation, but the very function and modes it uses for a
        # plain client's spans; tests/integration/test_telemetry.py pins the result.
        from opentelemetry.instrumentation._semconv import (
            _get_semconv_opt_in_modes,
            _OpenTelemetryStabilitySignalType,
        )
        from opentelemetry.instrumentation.redis.util import _extract_conn_attributes

        signals = (
            _OpenTelemetryStabilitySignalType.DATABASE,
            _OpenTelemetryStabilitySignalType.HTTP,
        )
        modes = _get_semconv_opt_in_modes(signals)
        self._modes = tuple(modes[signal] for signal in signals)
        self._extract: Callable[..., dict[str, Any]] = _extract_conn_attributes
        self._system = {k: v for k, v in self._attributes({}).items() if k not in _ADDRESS}

    def _attributes(self, connection: dict[str, Any]) -> dict[str, Any]:
        return self._extract({"db": 0, **connection}, *self._modes)

    def on_command(self, span: Span, instance: Any, args: Any, kwargs: Any) -> None:
        if not span.is_recording() or not isinstance(instance, _CLUSTERS):
            return
        node = _node_of(instance, args, kwargs)
        if node is None:
            span.set_attributes(self._system)
        else:
            span.set_attributes(self._attributes({"host": node.host, "port": node.port}))

    def on_response(self, span: Span, instance: Any, response: Any) -> None:
        if span.is_recording() and isinstance(instance, _CLUSTER_PIPELINES):
            span.set_attributes(self._system)


def _node_of(client: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The one node a Cluster command goes to, or None: no key, several nodes, or a slot
    map not read yet (the client's first command)."""
    target = kwargs.get("target_nodes")
    if target is not None:
        nodes = target if isinstance(target, list) else [target]
        # A node flag ("primaries", ...) is a string: several nodes, or one chosen later.
        return nodes[0] if len(nodes) == 1 and not isinstance(nodes[0], str) else None
    try:
        key = _first_key(client, args)
        return None if key is None else client.get_node_from_key(key)
    except (RedisClusterException, RedisError, ValueError, IndexError):
        return None


def _first_key(client: Any, args: Sequence[Any]) -> Any:
    """The command's first key, where the command table the client read says it is."""
    if not args:
        return None
    name = str_if_bytes(args[0]).upper()
    if name in _SCRIPT_CALLS:
        return args[3] if len(args) > 3 and int(args[2]) > 0 else None
    info = client.commands_parser.commands.get(name.lower())
    if not isinstance(info, dict) or "movablekeys" in info.get("flags", ()):
        return None
    position = info.get("first_key_pos", 0)
    return args[position] if 0 < position < len(args) else None


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
