"""Which Redis errors mean "not now" (503 with a code) and which mean a bug."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import (
    BusyLoadingError,
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    CrossSlotTransactionError,
    MasterDownError,
    MaxConnectionsError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)

from service.store_errors import BurstLog, classify


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConnectionError("refused"), "redis_unavailable"),
        (TimeoutError("slow"), "redis_unavailable"),
        (BusyLoadingError("Redis is loading the dataset in memory"), "redis_loading"),
        (
            OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
            "redis_out_of_memory",
        ),
        (ReadOnlyError("You can't write against a read only replica."), "redis_read_only"),
        (ResponseError("MISCONF Redis is configured to save RDB snapshots"), "redis_disk_error"),
        (ResponseError("BUSY Redis is busy running a script."), "redis_busy"),
        (NoScriptError("No matching script."), "redis_script_cache"),
        (TryAgainError("Multiple keys request during rehashing of slot"), "redis_cluster_down"),
        (MasterDownError("Link with MASTER is down"), "redis_master_down"),
        (ResponseError("NOREPLICAS Not enough good replicas to write."), "redis_no_replicas"),
    ],
)
def test_conditions_by_error(error: Exception, code: str) -> None:
    condition = classify(error)
    assert condition is not None and condition.code == code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ClusterDownError("CLUSTERDOWN The cluster is down"), "redis_cluster_down"),
        (ResponseError("CLUSTERDOWN Hash slot not served"), "redis_cluster_down"),
        (ClusterError("TTL exhausted."), "redis_cluster_down"),
        (SlotNotCoveredError('Slot "1064" is not covered by the cluster.'), "redis_cluster_down"),
        (MasterDownError("MASTERDOWN Link with MASTER is down"), "redis_master_down"),
        (MaxConnectionsError("Too many connections"), "redis_unavailable"),
        (
            RedisClusterException("Redis Cluster cannot be connected. Please provide ..."),
            "redis_unavailable",
        ),
        (
            RedisClusterException("All slots are not covered after query all startup_nodes."),
            "redis_cluster_down",
        ),
        (
            RedisClusterException("startup_nodes could not agree on a valid slots cache: ..."),
            "redis_cluster_down",
        ),
    ],
)
def test_a_cluster_failing_over_or_resharding_is_an_outage(error: Exception, code: str) -> None:
    condition = classify(error)
    assert condition is not None and condition.code == code


@pytest.mark.parametrize(
    "error",
    [
        CrossSlotTransactionError("All keys involved in a cluster transaction must map ..."),
        RedisClusterException("EVALSHA - all keys must map to the same key slot"),
        ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot"),
    ],
)
def test_keys_in_two_slots_are_a_bug_not_an_outage(error: Exception) -> None:
    assert classify(error) is None


def test_a_script_error_is_a_bug_not_an_outage() -> None:
    assert classify(ResponseError("ERR user_script:3: attempt to index a nil value")) is None


def test_a_script_meeting_a_moving_slot_is_an_outage() -> None:
    """A key a script builds (a label index) that has moved away or is new while its slot
    migrates: the node refuses it as it would answer ASK; the request is tried again."""
    text = (
        "Script attempted to access a non local key in a cluster node script: 5dcb6bcc, "
        "on @user_script:63."
    )
    for error in (ResponseError(text), ResponseError(f"ERR {text}")):
        condition = classify(error)
        assert condition is not None and condition.code == "redis_cluster_down"


def test_a_burst_is_logged_once_then_summarised(caplog: pytest.LogCaptureFixture) -> None:
    burst = BurstLog(quiet=60.0)
    condition = classify(ResponseError("BUSY running"))
    assert condition is not None
    with caplog.at_level(logging.WARNING, logger="service.store"):
        for _ in range(5):
            burst.note(condition, ResponseError("BUSY running"))
    assert len(caplog.records) == 1
    burst.quiet = 0.0
    with caplog.at_level(logging.WARNING, logger="service.store"):
        burst.note(condition, ResponseError("BUSY running"))
    assert caplog.records[-1].repeats_since_last_log == 4  # type: ignore[attr-defined]
