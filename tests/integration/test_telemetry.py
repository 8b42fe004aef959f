"""Metrics, traces and logs: what an operator sees after real deliveries."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.keys import Layout
from service.telemetry import Tracing, TracingConfigError, exporter_name, otlp_protocol
from tests.conftest import AUTH, NOWHERE, message
from tests.support.polling import wait_until
from tests.support.redis_cluster import LocalCluster
from tests.support.sink import Sink

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def samples(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = api.get("/metrics").text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(api: TestClient, name: str, **labels: str) -> float:
    return samples(api).get((name, tuple(sorted(labels.items()))), 0.0)


class TestMetrics:
    def test_counts_follow_successes_retries_and_dead_letters(
        self, api: TestClient, sink: Sink
    ) -> None:
        api.post("/messages", json=message("ok", sink.url()), headers=AUTH)
        api.post("/messages", json=message("flaky", sink.url("/flaky/1")), headers=AUTH)
        api.post("/messages", json=message("dead", sink.url("/status/404")), headers=AUTH)
        assert wait_until(
            lambda: (
                value(api, "scheduler_api_deliveries_total", outcome="delivered") == 2
                and value(api, "scheduler_api_deliveries_total", outcome="dead_lettered") == 1
            )
        )
        assert value(api, "scheduler_api_messages_scheduled_total") == 3
        assert value(api, "scheduler_api_deliveries_total", outcome="retried") == 1
        assert value(api, "scheduler_api_delivery_attempts_total", status_class="2xx") == 2
        assert value(api, "scheduler_api_delivery_attempts_total", status_class="5xx") == 1
        assert value(api, "scheduler_api_delivery_attempts_total", status_class="4xx") == 1
        assert value(api, "scheduler_api_delivery_lateness_seconds_count") == 4
        assert value(api, "scheduler_api_webhook_request_duration_seconds_count") == 4
        route = {"method": "POST", "route": "/messages", "status": "200"}
        assert value(api, "scheduler_api_http_requests_total", **route) == 3
        assert value(api, "scheduler_api_redis_up") == 1

    def test_lease_holder_exports_cluster_gauges(self, api: TestClient) -> None:
        api.post("/messages", json=message("later", NOWHERE, at="2999-01-01"), headers=AUTH)
        assert wait_until(lambda: value(api, "scheduler_api_leader") == 1)
        assert wait_until(lambda: value(api, "scheduler_api_pending_messages") == 1, timeout=10)
        assert value(api, "scheduler_api_inflight_messages") == 0
        assert value(api, "scheduler_api_dead_letter_messages") == 0
        assert api.get("/health").json()["leader"] is True

    def test_labels_never_carry_ids_or_urls(self, api: TestClient, sink: Sink) -> None:
        api.post("/messages", json=message("secret-id-42", sink.url()), headers=AUTH)
        api.get("/messages/secret-id-42", headers=AUTH)
        sink.wait_for(1)
        text = api.get("/metrics").text
        assert "secret-id-42" not in text
        assert str(sink.port) not in text
        assert 'route="/messages/{message_id}"' in text

    @pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
    def test_promtool_accepts_a_live_scrape(self, api: TestClient, sink: Sink) -> None:
        api.post("/messages", json=message("one", sink.url()), headers=AUTH)
        sink.wait_for(1)
        scrape = api.get("/metrics").text
        result = subprocess.run(
            ["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def traced_app(settings: Any) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    """The app with `settings`, its spans kept in memory."""
    exporter = InMemorySpanExporter()
    tracing = Tracing(processor=SimpleSpanProcessor(exporter))
    with TestClient(create_app(settings, tracing=tracing)) as client:
        yield client, exporter


@pytest.fixture
def spans(make_settings: Any) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    yield from traced_app(make_settings())


def test_delivery_span_links_to_the_request_that_scheduled_it(
    spans: tuple[TestClient, InMemorySpanExporter], sink: Sink
) -> None:
    api, exporter = spans
    headers = {**AUTH, "traceparent": CALLER_TRACEPARENT}
    api.post("/messages", json=message("traced", sink.url(), at="2001-01-01"), headers=headers)
    [received] = sink.wait_for(1)
    assert wait_until(lambda: any(s.name == "POST webhook" for s in exporter.get_finished_spans()))
    finished = exporter.get_finished_spans()
    server = next(s for s in finished if s.name == "POST /messages")
    delivery = next(s for s in finished if s.name == "POST webhook")
    assert server.kind is SpanKind.SERVER
    assert f"{server.context.trace_id:032x}" == CALLER_TRACE
    assert delivery.kind is SpanKind.CLIENT
    # The link names the span current when the message was stored: the server span or
    # the route's own span inside it (FastAPI makes one through the global provider).
    [link] = delivery.links
    assert link.context.trace_id == server.context.trace_id
    assert delivery.attributes["messaging.message.id"] == "traced"
    assert delivery.attributes["http.response.status_code"] == 200
    assert delivery.attributes["http.request.method"] == "POST"
    sent = received.headers["traceparent"].split("-")
    assert sent[1] == f"{delivery.context.trace_id:032x}"
    assert sent[2] == f"{delivery.context.span_id:016x}"


class _OtlpReceiver:
    """OTLP/HTTP trace receiver on 127.0.0.1: decodes what the exporter sends."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        receiver.spans.extend(scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def test_spans_are_exported_over_otlp_when_the_endpoint_is_set(
    make_settings: Any, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = _OtlpReceiver()
    # The exporter reads its endpoint from the standard variable itself.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    try:
        with TestClient(create_app(make_settings())) as api:
            api.post("/messages", json=message("exported", sink.url()), headers=AUTH)
            sink.wait_for(1)
            time.sleep(0.5)  # the delivery span ends after the sink's answer
        # Closing the app shuts the tracer provider down, which flushes the batch.
        names = {span.name for span in receiver.spans}
        assert {"POST /messages", "POST webhook"} <= names
    finally:
        receiver.server.shutdown()


class TestStandardVariables:
    """Tracing is configured the way every OpenTelemetry SDK is: by OTEL_* variables."""

    def test_off_without_any(self) -> None:
        assert exporter_name({}) is None
        assert not Tracing(environ={}).enabled

    def test_an_endpoint_turns_otlp_on(self) -> None:
        assert exporter_name({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}) == "otlp"
        assert exporter_name({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9"}) == (
            "otlp"
        )

    def test_the_exporter_variable_chooses(self) -> None:
        endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
        assert exporter_name({"OTEL_TRACES_EXPORTER": "console"}) == "console"
        assert exporter_name({**endpoint, "OTEL_TRACES_EXPORTER": "none"}) is None
        with pytest.raises(TracingConfigError, match="OTEL_TRACES_EXPORTER"):
            exporter_name({"OTEL_TRACES_EXPORTER": "zipkin"})

    def test_sdk_disabled_wins(self) -> None:
        on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "otlp"}
        assert exporter_name({**on, "OTEL_SDK_DISABLED": "true"}) is None
        assert not Tracing(environ={**on, "OTEL_SDK_DISABLED": "TRUE"}).enabled

    def test_the_traces_protocol_wins_over_the_general_one(self) -> None:
        both = {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        }
        assert otlp_protocol(both) == "grpc"
        assert otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == "grpc"
        assert otlp_protocol({}) == "http/protobuf"
        with pytest.raises(TracingConfigError, match="http/json"):
            otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})

    def test_resource_attributes_and_service_name_come_through(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_SERVICE_NAME", "scheduler-eu")
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
        exporter = InMemorySpanExporter()
        tracing = Tracing(processor=SimpleSpanProcessor(exporter))
        try:
            with tracing.tracer.start_as_current_span("probe"):
                pass
            [span] = exporter.get_finished_spans()
            assert span.resource.attributes["service.name"] == "scheduler-eu"
            assert span.resource.attributes["deployment.environment"] == "staging"
            assert span.resource.attributes["service.version"]
        finally:
            tracing.shutdown()


def test_redis_commands_are_child_spans_of_the_request(
    spans: tuple[TestClient, InMemorySpanExporter], sink: Sink
) -> None:
    api, exporter = spans
    # Due later: a delivery now would add Redis spans of its own, in the attempt's trace.
    body = message("redis-spans", NOWHERE, at="2999-01-01T00:00:00Z")
    api.post("/messages", json=body, headers=AUTH)
    finished = exporter.get_finished_spans()
    # Ours: FastAPI makes a span of the same name through the global provider, in a trace
    # of its own, when this app's provider is the global one (the first in the process).
    server = next(
        s
        for s in finished
        if s.name == "POST /messages" and s.instrumentation_scope.name == "scheduler-api"
    )
    redis = [s for s in finished if s.attributes.get("db.system") == "redis"]
    assert redis, [s.name for s in finished]
    # Inside the request's trace, never roots: the background loops make no Redis spans.
    assert all(s.context.trace_id == server.context.trace_id for s in redis)
    assert all(s.parent is not None for s in redis)


@pytest.fixture
def cluster_spans(
    make_settings: Any, redis_cluster: LocalCluster
) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    """The app on the session's 3-primary Cluster with 16 partitions, spans in memory."""
    redis_cluster.flush()
    yield from traced_app(
        make_settings(redis_url=None, redis_cluster_nodes=redis_cluster.seeds, redis_partitions=16)
    )


def test_redis_spans_on_a_cluster_name_redis_and_the_primary_that_served_them(
    cluster_spans: tuple[TestClient, InMemorySpanExporter], redis_cluster: LocalCluster
) -> None:
    """A Cluster client has no `connection_pool`, where the instrumentation reads the
    connection attributes: the service's hooks set the same ones a plain client's spans
    carry, with the address of the primary each command went to."""
    api, exporter = cluster_spans
    assert api.post("/messages", json=message("c-1", NOWHERE), headers=AUTH).status_code == 200
    later = [message(f"c-{i}", NOWHERE, at="2999-01-01T00:00:00Z") for i in range(2, 40)]
    response = api.post("/messages/batch", json={"messages": later}, headers=AUTH)
    assert response.status_code == 200
    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    redis = [s for s in spans if s.instrumentation_scope.name.endswith(".redis")]
    assert redis and all(s.attributes.get("db.system") == "redis" for s in redis), redis

    commands = [s for s in redis if "db.redis.args_length" in s.attributes]
    primaries = {node.port for node in redis_cluster.primaries()}
    for span in commands:
        assert {"db.redis.database_index", "net.peer.name", "net.peer.port", "net.transport"} <= (
            span.attributes.keys()
        ), (span.name, span.attributes)
        assert span.attributes["net.peer.name"] == "127.0.0.1"
        assert span.attributes["net.peer.port"] in primaries
    # The script that stored c-1 ran on the primary serving its partition's slot.
    partition = Layout("scheduler", 16).for_id("c-1")
    owner = redis_cluster.owner(redis_cluster.slot_of(partition.msgs)).port
    scripts = [s for s in commands if s.name == "EVALSHA"]
    assert owner in {s.attributes["net.peer.port"] for s in scripts}, scripts

    # The batch is one pipeline over several primaries: the system, and no one address.
    [pipeline] = [s for s in redis if "db.redis.pipeline_length" in s.attributes]
    assert pipeline.attributes["db.redis.pipeline_length"] == len(later)
    assert "net.peer.port" not in pipeline.attributes


def test_redis_spans_can_be_turned_off_the_standard_way() -> None:
    off = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "urllib, redis"}
    tracing = Tracing(processor=SimpleSpanProcessor(InMemorySpanExporter()), environ=off)
    try:
        assert tracing.enabled
        assert not RedisInstrumentor().is_instrumented_by_opentelemetry
    finally:
        tracing.shutdown()


def test_the_provider_is_global_so_other_libraries_join_the_trace() -> None:
    # In a fresh interpreter: the global provider can be set once per process.
    script = """
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from service.telemetry import Tracing, TracingConfigError, exporter_name, otlp_protocol

exporter = InMemorySpanExporter()
tracing = Tracing(processor=SimpleSpanProcessor(exporter))
assert trace.get_tracer_provider() is tracing.provider
with tracing.tracer.start_as_current_span("ours"):
    with trace.get_tracer("some.library").start_as_current_span("theirs"):
        pass
ours, theirs = sorted(exporter.get_finished_spans(), key=lambda s: s.name)
assert theirs.parent.span_id == ours.context.span_id
tracing.shutdown()
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_one_json_log_line_per_attempt_without_secrets(
    make_settings: Any, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    from service.logs import JsonFormatter

    secret = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    settings = make_settings(webhook_signing_secret=secret)
    with (
        caplog.at_level(logging.INFO, logger="service.delivery"),
        TestClient(create_app(settings)) as api,
    ):
        body = message("logged", sink.url("/flaky/1"))
        body["payload"] = {"card": "4111-secret-payload"}
        api.post("/messages", json=body, headers=AUTH)
        sink.wait_for(2)
        time.sleep(0.3)
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "service.delivery"]
    records = [json.loads(line) for line in lines]
    assert [r["attempt"] for r in records] == [1, 2]
    assert [r["outcome"] for r in records] == ["retried", "delivered"]
    for record in records:
        assert record["message_id"] == "logged"
        assert {"status", "duration_seconds", "lateness_seconds", "trace_id"} <= record.keys()
    text = "\n".join(lines)
    assert "4111-secret-payload" not in text
    assert secret not in text
    assert settings.api_token.get_secret_value() not in text


class TestMetricsReference:
    """docs/observability.md lists every metric the service exports, and nothing else."""

    DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"

    def documented(self) -> set[str]:
        rows = re.findall(r"^\| `(scheduler_\w+)` \|", self.DOC.read_text(), re.MULTILINE)
        return set(rows)

    def exported(self, api: TestClient) -> set[str]:
        families = text_string_to_metric_families(api.get("/metrics").text)
        names = set()
        for family in families:
            if family.name.startswith("scheduler_"):
                # The table names counters with their `_total` sample, as PromQL reads them.
                names.add(family.name + ("_total" if family.type == "counter" else ""))
        return names

    def test_the_table_matches_the_scrape(self, api: TestClient) -> None:
        # The lease holder's gauges appear once it has read the store's statistics.
        assert wait_until(lambda: "scheduler_api_pending_messages" in self.exported(api))
        exported, documented = self.exported(api), self.documented()
        assert not exported - documented, f"exported but not documented: {exported - documented}"
        assert not documented - exported, f"documented but not exported: {documented - exported}"

    def test_the_process_and_platform_are_described_too(self, api: TestClient) -> None:
        names = {f.name for f in text_string_to_metric_families(api.get("/metrics").text)}
        assert {"process_resident_memory_bytes", "process_cpu_seconds", "python_info"} <= names


def test_text_lines_show_extras_but_not_uvicorns_coloured_copy() -> None:
    from service.logs import TextFormatter

    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Started %s", ("x",), None)
    record.color_message = "Started \x1b[1m%s\x1b[0m"
    record.replica = "r1"
    line = TextFormatter().format(record)
    assert line.endswith("Started x replica=r1")
    assert "\x1b" not in line
