"""The console's overview: the last hour of this replica's counters, sampled in memory.

Every SAMPLE_SECONDS the replica records the store's counts (pending, in flight, dead
letters: cluster-wide, one cheap script per partition) and what its own counters did
since the last sample (deliveries by outcome, lateness). An hour is 360 small samples.

Kept here rather than in the browser so the overview has its hour the moment the page
opens, needs no second secret when METRICS_TOKEN closes /metrics, and parses no
Prometheus text in JavaScript. Prometheus stays the place for fleet-wide history: the
deliveries and lateness here are those of the replica that answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from .cancellation import reraise_if_cancelling
from .fields import iso
from .metrics import Metrics
from .records import Stats

log = logging.getLogger("service.overview")

SAMPLE_SECONDS = 10.0
WINDOW_SECONDS = 3600.0
OUTCOMES = ("delivered", "retried", "dead_lettered")


@dataclass(frozen=True, slots=True)
class Totals:
    """Running totals of this replica's counters at one moment."""

    outcomes: dict[str, float]
    lateness_buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count)
    lateness_count: float
    lateness_sum: float


def outcome_totals(counter: Counter) -> dict[str, float]:
    """{outcome: total} of a counter labelled by outcome."""
    totals = dict.fromkeys(OUTCOMES, 0.0)
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and "outcome" in sample.labels:
                totals[sample.labels["outcome"]] = sample.value
    return totals


def histogram_totals(histogram: Histogram) -> tuple[tuple[tuple[float, float], ...], float, float]:
    """(cumulative buckets, count, sum) of an unlabelled histogram."""
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return tuple(buckets), count, total


def read_totals(metrics: Metrics) -> Totals:
    buckets, count, total = histogram_totals(metrics.lateness)
    return Totals(outcome_totals(metrics.deliveries), buckets, count, total)


def quantile_bound(buckets: Iterable[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile `q` (None without observations).

    Past the last finite bucket, the last finite bound: "at least this late"."""
    rows = list(buckets)
    if not rows or rows[-1][1] <= 0:
        return None
    rank = q * rows[-1][1]
    finite = [bound for bound, _ in rows if math.isfinite(bound)]
    for bound, cumulative in rows:
        if cumulative >= rank:
            return bound if math.isfinite(bound) else (finite[-1] if finite else None)
    return None


class OverviewSample(BaseModel):
    at: str = Field(description="When the sample was taken, ISO-8601 UTC.")
    pending: int | None = Field(description="Messages waiting (null: Redis did not answer).")
    inFlight: int | None
    deadLetters: int | None
    delivered: int = Field(description="Deliveries this replica finished since the last sample.")
    retried: int
    deadLettered: int
    latenessMeanSeconds: float | None = Field(
        description="Mean delivery lateness over the interval; null without deliveries."
    )
    latenessP99Seconds: float | None = Field(
        description="Upper bound of the 99th percentile of lateness over the interval."
    )


class OverviewBody(BaseModel):
    sampleSeconds: float
    windowSeconds: float
    samples: list[OverviewSample] = Field(description="Oldest first; at most one hour.")


def interval(before: Totals, after: Totals, stats: Stats | None, at_ms: int) -> OverviewSample:
    """One sample: the store's counts and what the counters did between two readings."""
    done = {o: max(0, round(after.outcomes[o] - before.outcomes[o])) for o in OUTCOMES}
    late_count = after.lateness_count - before.lateness_count
    late_sum = after.lateness_sum - before.lateness_sum
    deltas = [
        (bound, now - was)
        for (bound, now), (_, was) in zip(
            after.lateness_buckets, before.lateness_buckets, strict=True
        )
    ]
    return OverviewSample(
        at=iso(at_ms),
        pending=None if stats is None else stats.pending,
        inFlight=None if stats is None else stats.in_flight,
        deadLetters=None if stats is None else stats.dead,
        delivered=done["delivered"],
        retried=done["retried"],
        deadLettered=done["dead_lettered"],
        latenessMeanSeconds=late_sum / late_count if late_count > 0 else None,
        latenessP99Seconds=quantile_bound(deltas, 0.99),
    )


class Overview:
    """A ring of samples, one every `every` seconds, `window` seconds long."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        stats: Callable[[], Awaitable[Stats]],
        timeout: float,
        every: float = SAMPLE_SECONDS,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.metrics = metrics
        self.stats = stats
        self.timeout = timeout
        self.every = every
        self.window = window
        self.samples: deque[OverviewSample] = deque(maxlen=max(1, int(window / every)))
        self._last = read_totals(metrics)

    async def sample(self) -> OverviewSample:
        """Take one sample now and keep it."""
        stats = await self._stats()
        totals = read_totals(self.metrics)
        sample = interval(self._last, totals, stats, int(time.time() * 1000))
        self._last = totals
        self.samples.append(sample)
        return sample

    async def _stats(self) -> Stats | None:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.stats()
        except (RedisError, OSError, TimeoutError) as error:
            reraise_if_cancelling()
            log.debug("overview sample without store counts: %s", error)
            return None

    async def run(self) -> None:
        """Sample at once (so the chart starts with this process), then every period."""
        while True:
            try:
                await self.sample()
            except Exception:  # a bad sample must not end the loop (liveness watches it)
                reraise_if_cancelling()
                log.exception("overview sample failed")
            # A cancel that lands inside the Redis call can be swallowed there; without
            # this the loop would sleep on and the shutdown would wait for it forever.
            reraise_if_cancelling()
            await asyncio.sleep(self.every)

    def body(self) -> OverviewBody:
        return OverviewBody(
            sampleSeconds=self.every, windowSeconds=self.window, samples=list(self.samples)
        )
