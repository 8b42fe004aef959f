"""What Redis command spans cost: `Store.schedule` inside a span, instrumented or not.

Run: `.venv/bin/python -m bench.redis_spans` (from the repo root). One Redis server on a
free port; rounds alternate between the two set-ups so that whatever else the machine
does weighs on both alike; prints CPU microseconds per call and the ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.loader import service_store
from service.records import NewMessage
from service.telemetry import _ChildrenOnly
from tests.support.redis_server import RedisServer

ROUNDS = 10
CALLS = 2_000


async def round_of(port: int, tracer_provider: TracerProvider, prefix: str) -> float:
    """CPU microseconds of this process per `schedule` call, each in its own parent span.

    CPU time, not wall time: the figure is what the service pays, and other work on the
    machine does not move it."""
    tracer = tracer_provider.get_tracer("bench")
    async with service_store(port) as store:
        start = time.process_time()
        for i in range(CALLS):
            message = NewMessage(
                id=f"{prefix}-{i}",
                due_ms=4_102_444_800_000,
                payload=b"{}",
                url="http://127.0.0.1:9/",
                created_ms=0,
            )
            with tracer.start_as_current_span("POST /messages"):
                await store.schedule(message, max_messages=0, max_bytes=0)
        return (time.process_time() - start) / CALLS * 1e6


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = RedisInstrumentor()
    results: dict[str, list[float]] = {"request spans only": [], "with Redis spans": []}
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory), appendonly=False)
        server.start()
        try:
            for n in range(ROUNDS):
                for setup in results if n % 2 == 0 else reversed(list(results)):
                    if setup == "with Redis spans":
                        instrumentor.instrument(tracer_provider=_ChildrenOnly(provider))
                    try:
                        results[setup].append(
                            await round_of(server.port, provider, f"{n}{setup[0]}")
                        )
                    finally:
                        if setup == "with Redis spans":
                            instrumentor.uninstrument()
                    exporter.clear()
        finally:
            server.stop()
    base = statistics.median(results["request spans only"])
    for setup, values in results.items():
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{setup:>20}: median {median:6.1f} us per call ({rounds}) {median / base:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
