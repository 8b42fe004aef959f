"""Partitions' hash tags spread over Redis Cluster's slots, whatever the count."""

from __future__ import annotations

import itertools

import pytest

from service.keys import CLUSTER_SLOTS, Keys, Layout, cluster_slot, partition_tag


def per_range(prefix: str, partitions: int, primaries: int) -> list[int]:
    """Partitions per primary when the slots are split in equal ranges, as
    `redis-cli --cluster create` splits them."""
    counts = [0] * primaries
    for n in range(partitions):
        slot = cluster_slot(partition_tag(prefix, n))
        counts[min(slot * primaries // CLUSTER_SLOTS, primaries - 1)] += 1
    return counts


@pytest.mark.parametrize("prefix", ["scheduler", "team-a", "x"])
@pytest.mark.parametrize(("partitions", "primaries"), [(16, 3), (16, 6), (64, 10), (256, 6)])
def test_partitions_spread_evenly_over_the_slot_ranges(
    prefix: str, partitions: int, primaries: int
) -> None:
    counts = per_range(prefix, partitions, primaries)
    # Even up to rounding, and one more where a range boundary falls inside a window.
    assert max(counts) - min(counts) <= 2, counts
    assert min(counts) >= partitions // primaries - 1, counts


def test_the_first_partition_keeps_its_plain_tag_and_the_others_are_stable() -> None:
    assert Keys("scheduler", 0).tag == "{scheduler:0}"
    assert Keys("scheduler", 1).msgs.startswith("{scheduler:1-")
    # More partitions never rename the ones before: a repartition relies on it.
    assert Layout("scheduler", 4).partitions() == Layout("scheduler", 16).partitions()[:4]


def test_every_tag_is_distinct_and_lands_in_its_own_slot_window() -> None:
    tags = [partition_tag("scheduler", n) for n in range(1024)]
    assert len(set(tags)) == 1024
    slots = sorted(cluster_slot(tag) for tag in tags)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1  # no two partitions share a slot
    assert max(gaps) < 2 * CLUSTER_SLOTS // 1024
