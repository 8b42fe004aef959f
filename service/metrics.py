"""Every Prometheus metric the service exports, declared once.

Each replica runs a single uvicorn process, so the default registry is exact and
prometheus-client's multiprocess mode is not needed. Labels are bounded: no message
ids, no URLs.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .records import Stats

# The `_created` series (one per counter and histogram, the time it was made) doubles the
# series count for a timestamp Prometheus never needs: it sees resets by itself.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
STATUS_CLASSES = (
    "1xx", "2xx", "3xx", "4xx", "5xx", "invalid",
    "timeout", "connection_error", "egress_denied", "internal_error",
)  # fmt: skip
# The causes of a 503 that store_errors.py names (bounded: one label value per cause).
STORE_CONDITIONS = (
    "redis_unavailable", "redis_loading", "redis_out_of_memory", "redis_read_only",
    "redis_disk_error", "redis_busy", "redis_script_cache", "redis_cluster_down",
    "redis_master_down", "redis_no_replicas",
)  # fmt: skip
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ClusterStats(Collector):
    """Cluster-wide counts, exported only by the lease holder so max() or sum() is exact."""

    def __init__(self) -> None:
        self.stats: Stats | None = None
        self.memory: tuple[int, int] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.memory is not None:
            used, limit = self.memory
            yield GaugeMetricFamily(
                "scheduler_api_redis_memory_used_bytes", "Memory Redis reports in use.", used
            )
            yield GaugeMetricFamily(
                "scheduler_api_redis_memory_max_bytes",
                "Redis maxmemory (0: no limit; writes are refused above it).",
                limit,
            )
        if self.stats is None:
            return
        yield GaugeMetricFamily(
            "scheduler_api_schedules", "Recurring schedules stored.", self.stats.schedules
        )
        yield GaugeMetricFamily(
            "scheduler_api_stored_messages",
            "Messages the store holds (pending, in flight and dead letters).",
            self.stats.stored,
        )
        yield GaugeMetricFamily(
            "scheduler_api_stored_body_bytes",
            "Bytes of payloads and header values the store holds.",
            self.stats.body_bytes,
        )
        yield GaugeMetricFamily(
            "scheduler_api_pending_messages",
            "Messages waiting in the due index.",
            self.stats.pending,
        )
        yield GaugeMetricFamily(
            "scheduler_api_inflight_messages",
            "Messages claimed and being delivered.",
            self.stats.in_flight,
        )
        yield GaugeMetricFamily(
            "scheduler_api_dead_letter_messages",
            "Messages parked as dead letters.",
            self.stats.dead,
        )


class Metrics:
    """The metric objects, on their own registry so app instances never collide."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # process_* (CPU seconds, resident memory, open file descriptors, start time) and
        # python_info: what a dashboard or an OOM investigation reads first.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.scheduled = Counter(
            "scheduler_api_messages_scheduled", "Messages accepted by POST /messages.", registry=r
        )
        self.deliveries = Counter(
            "scheduler_api_deliveries",
            "Finished delivery attempts by outcome (delivered, retried, dead_lettered).",
            ["outcome"],
            registry=r,
        )
        self.attempts = Counter(
            "scheduler_api_delivery_attempts",
            "Webhook requests by answer: 1xx-5xx, invalid, timeout, connection_error.",
            ["status_class"],
            registry=r,
        )
        self.lateness = Histogram(
            "scheduler_api_delivery_lateness_seconds",
            "Delivery start minus the scheduled time.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_duration = Histogram(
            "scheduler_api_webhook_request_duration_seconds",
            "Time from sending a webhook request to its answer or failure.",
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.leader = Gauge(
            "scheduler_api_leader", "1 when this replica holds the housekeeping lease.", registry=r
        )
        self.redis_up = Gauge(
            "scheduler_api_redis_up", "1 when Redis answered last time.", registry=r
        )
        self.http_requests = Counter(
            "scheduler_api_http_requests",
            "API requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "scheduler_api_http_request_duration_seconds",
            "API request duration by method and route template.",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.refused = Counter(
            "scheduler_api_messages_refused",
            "POST /messages refused by a quota (message_quota, byte_quota).",
            ["reason"],
            registry=r,
        )
        self.callbacks = Counter(
            "scheduler_api_callbacks_scheduled",
            "Callbacks stored as messages (success and failure callbacks).",
            registry=r,
        )
        self.expired = Counter(
            "scheduler_api_messages_expired",
            "Messages dead-lettered because an attempt would start past maxLatenessSeconds.",
            registry=r,
        )
        self.schedules_created = Counter(
            "scheduler_api_schedules_created",
            "Recurring schedules created by POST /schedules.",
            registry=r,
        )
        self.fires = Counter(
            "scheduler_api_schedule_fires",
            "Fires of recurring schedules by outcome (delivered, retried, dead_lettered).",
            ["outcome"],
            registry=r,
        )
        self.bulk_cancelled = Counter(
            "scheduler_api_messages_bulk_cancelled",
            "Messages cancelled by DELETE /messages?label=...",
            registry=r,
        )
        self.store_errors = Counter(
            "scheduler_api_redis_errors",
            "Requests answered 503 because Redis could not serve them, by cause.",
            ["code"],
            registry=r,
        )
        self.cluster = ClusterStats()
        r.register(self.cluster)
        # Series exist at zero from the start, so increase() sees their first event; the
        # children are kept so the delivery path skips the label lookup.
        self.outcomes = {
            o: self.deliveries.labels(o) for o in ("delivered", "retried", "dead_lettered")
        }
        self.status_classes = {status: self.attempts.labels(status) for status in STATUS_CLASSES}
        self.fire_outcomes = {
            o: self.fires.labels(o) for o in ("delivered", "retried", "dead_lettered")
        }
        for reason in ("message_quota", "byte_quota"):
            self.refused.labels(reason)
        for code in STORE_CONDITIONS:
            self.store_errors.labels(code)
