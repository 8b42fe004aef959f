"""Redis key names: every key the service uses is built here.

A partition's keys share one hash tag, `{prefix:N}`, so every script touching them
runs inside one Redis Cluster slot. A script receives the keys it names, in the order of
`SCRIPT_KEYS`; the store prepends a prelude that binds their names in Lua (lua.py).
"""

from __future__ import annotations

import binascii
import builtins
import functools
import re
import zlib
from dataclasses import dataclass

# The order in which a script gets the keys it names (KEYS[1], KEYS[2], ...).
SCRIPT_KEYS = (
    "msgs",
    "bodies",
    "due",
    "retrying",
    "inflight",
    "dead",
    "log",
    "hist",
    "histidx",
    "sched",
    "schedbody",
    "schedidx",
    "schedall",
    "schedstat",
    "lease",
    "fence",
    "seq",
    "bytes",
    "moving",
    "claims",
)


CLUSTER_SLOTS = 16_384
# A partition's slot lands within this many slots of its target: the targets of 1,024
# partitions (the most REDIS_PARTITIONS allows) are this far apart.
SLOT_WINDOW = CLUSTER_SLOTS // 1024


def cluster_slot(tag: str) -> int:
    """The Redis Cluster slot of a hash tag's content (CRC16-XMODEM mod 16384)."""
    return binascii.crc_hqx(tag.encode(), 0) % CLUSTER_SLOTS


def _spread(partition: int) -> int:
    """How far past partition 0's slot partition N's lands: N's 14 bits reversed. The
    first P partitions are then evenly spaced over the slots for any P that is a power of
    two (and within twice the even spacing otherwise), and more partitions never move the
    ones before, so a repartition keeps the keys of the partitions both counts have."""
    return int(f"{partition:014b}"[::-1], 2)


@functools.cache
def partition_tag(prefix: str, partition: int) -> str:
    """The hash tag's content for a partition: `prefix:0` for the first, then `prefix:N-K`
    with the smallest K that puts it where `_spread` says.

    Plain `prefix:N` tags cluster: their CRC16s fall in a few runs of slots, so a
    3-primary Cluster (which splits the slots in three ranges) held 8, 4 and 4 of 16
    partitions, and on 10 primaries six held none. Finding K takes about a thousand CRCs
    per partition (a quarter of a second for 1,024 partitions), once per process."""
    if partition == 0:
        return f"{prefix}:0"
    target = (cluster_slot(f"{prefix}:0") + _spread(partition)) % CLUSTER_SLOTS
    for suffix in range(1_000_000):  # about one K in a thousand lands in the window
        tag = f"{prefix}:{partition}-{suffix}"
        if (cluster_slot(tag) - target) % CLUSTER_SLOTS < SLOT_WINDOW:
            return tag
    raise RuntimeError(f"no hash tag found for partition {partition} of '{prefix}'")


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names of one partition under `{prefix:partition}`."""

    prefix: str = "scheduler"
    partition: int = 0

    @property
    def tag(self) -> str:
        return "{" + partition_tag(self.prefix, self.partition) + "}"

    @property
    def msgs(self) -> str:
        """Hash: message id to its metadata record (records.py describes it)."""
        return f"{self.tag}:msgs"

    @property
    def bodies(self) -> str:
        """Hash: message id to its body (header values, then the payload).

        Kept apart from the metadata so that listing, settling and recovery never copy
        a payload inside Redis: only the claim and GET /messages/{id} read it.
        """
        return f"{self.tag}:bodies"

    @property
    def due(self) -> str:
        """Sorted set: pending message ids scored by due time (ms since the epoch)."""
        return f"{self.tag}:due"

    @property
    def retrying(self) -> str:
        """Sorted set: the pending ids that were attempted before, scored like `due`.

        A subset of `due`, so `GET /messages?state=retrying` reads only these."""
        return f"{self.tag}:retrying"

    @property
    def log(self) -> str:
        """Hash: id to its last attempts (JSON entries joined by newlines, 20 at most)."""
        return f"{self.tag}:log"

    @property
    def hist(self) -> str:
        """Hash: id of a finished message (delivered, dead-lettered, cancelled) to what is
        left of it, without payload or header values."""
        return f"{self.tag}:hist"

    @property
    def histidx(self) -> str:
        """Sorted set: history ids by the time they finished, for trimming."""
        return f"{self.tag}:histidx"

    @property
    def sched(self) -> str:
        """Hash: recurring schedule id to its definition (JSON, without payload)."""
        return f"{self.tag}:sched"

    @property
    def schedbody(self) -> str:
        """Hash: schedule id to the body its fires carry (header values, payload)."""
        return f"{self.tag}:schedbody"

    @property
    def schedidx(self) -> str:
        """Sorted set: active schedule ids by their last materialized fire (ms); the
        housekeeper materializes the next fires of those due within its horizon."""
        return f"{self.tag}:schedidx"

    @property
    def schedall(self) -> str:
        """Sorted set: every schedule id by creation time, for listing."""
        return f"{self.tag}:schedall"

    @property
    def schedstat(self) -> str:
        """Hash: `<id>:delivered`, `<id>:dead` counts of fires, `<id>:last` last fire time."""
        return f"{self.tag}:schedstat"

    @property
    def claims(self) -> str:
        """Hash: claimer (a replica's delivery loop) to its last batch, kept until the
        claim expires, so that a claim asked again after its answer was lost answers
        the same messages (claim.lua)."""
        return f"{self.tag}:claims"

    def label(self, name: str, value: str, *, dead: bool = False) -> str:
        """Sorted set: live ids carrying label `name=value` by next due time (dead
        letters apart, by the time they died). Built by the scripts (_lib.lua's
        label_key), whose tag keeps the colon before `msgs`: hence the two colons."""
        return f"{self.tag}::{'dlbl' if dead else 'lbl'}:{name}={value}"

    @property
    def inflight(self) -> str:
        """Sorted set: claimed message ids scored by claim expiry (ms)."""
        return f"{self.tag}:inflight"

    @property
    def dead(self) -> str:
        """Sorted set: dead-lettered message ids scored by the time they died (ms)."""
        return f"{self.tag}:dead"

    @property
    def lease(self) -> str:
        """String `owner:fence` held by the replica that runs housekeeping."""
        return f"{self.tag}:lease"

    @property
    def fence(self) -> str:
        """Counter bumped at every new lease holder: the fencing token."""
        return f"{self.tag}:fence"

    @property
    def seq(self) -> str:
        """Counter bumped at every claim: claim tokens are unique."""
        return f"{self.tag}:seq"

    @property
    def bytes(self) -> str:
        """Counter: bytes of all stored bodies, for MAX_PENDING_BYTES."""
        return f"{self.tag}:bytes"

    @property
    def moving(self) -> str:
        """Hash: ids on their way to another partition during a repartition (`m:<id>` a
        message, `s:<id>` a schedule). Scripts that change a message refuse to touch one
        listed here: its copy in the other partition would not see the change."""
        return f"{self.tag}:moving"

    @property
    def partition_count(self) -> str:
        """String: the REDIS_PARTITIONS the data was written with (home partition only)."""
        return f"{self.tag}:partitions"

    @property
    def repartition_target(self) -> str:
        """String: the count a repartition in progress moves the data to (home only)."""
        return f"{self.tag}:repartition"

    @property
    def replicas(self) -> str:
        """Hash: replica id to `<layout it runs>|<expiry ms>`, written by each replica's
        layout watcher (home only): a repartition waits until every live replica runs the
        layout it needs."""
        return f"{self.tag}:replicas"

    @property
    def probe(self) -> str:
        """String written by readiness checks: proves Redis accepts writes."""
        return f"{self.tag}:probe"

    def script_keys(self, names: tuple[str, ...] = SCRIPT_KEYS) -> list[builtins.bytes]:
        """The partition's keys `names` (a script's, lua.key_names), encoded once: encoding
        them at every call was a fifth of the sweep's CPU."""
        return list(_script_keys(self, names))


@functools.cache
def _script_keys(keys: Keys, names: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(getattr(keys, name).encode() for name in names)


@dataclass(frozen=True, slots=True)
class LegacyKeys:
    """Keys of the first storage layout (one `{prefix}` tag, payload inside the record)."""

    prefix: str = "scheduler"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def script_keys(self) -> list[str]:
        """messages, due, inflight, dead: the order migrate.lua names them in."""
        return [f"{self.tag}:{name}" for name in ("messages", "due", "inflight", "dead")]


# Ids the service derives from another id (a callback `<id>:cb-<token>`, a recurring
# schedule's fire `<schedule id>:<13-digit ms>`) live in the partition of the id they
# come from, so that one script writes both. The rule depends on the id alone (as a
# Redis hash tag does), so every replica and every lookup agrees on it.
_DERIVED = re.compile(r"(.+):(?:cb-[A-Za-z0-9_-]{11}|\d{13})")


def routing_key(message_id: str) -> str:
    """The part of an id that chooses its partition."""
    while derived := _DERIVED.fullmatch(message_id):
        message_id = derived.group(1)
    return message_id


def partition_of(message_id: str, count: int) -> int:
    """The partition `message_id` belongs in among `count`."""
    if count == 1:
        return 0
    return zlib.crc32(routing_key(message_id).encode()) % count


class Layout:
    """Which partition holds which message: `crc32(routing key) mod count`, stable."""

    def __init__(self, prefix: str = "scheduler", count: int = 1) -> None:
        self.prefix = prefix
        self.count = count
        self._partitions = [Keys(prefix, n) for n in range(count)]

    def partitions(self) -> list[Keys]:
        """Every partition that may hold data: the ones to claim from, list and sweep."""
        return list(self._partitions)

    def keys(self, partition: int) -> Keys:
        return self._partitions[partition]

    def for_id(self, message_id: str) -> Keys:
        """Where a new message (or schedule) with this id is written."""
        return self._partitions[partition_of(message_id, self.count)]

    def homes(self, message_id: str) -> list[Keys]:
        """Where an existing one may be, in the order to look."""
        return [self.for_id(message_id)]

    @property
    def moving(self) -> tuple[int, int] | None:
        """(from, to) counts while a repartition runs, else None."""
        return None

    @property
    def name(self) -> str:
        """How a replica reports the layout it runs: `16`, or `1>16` while moving."""
        return str(self.count)

    @property
    def home(self) -> Keys:
        """The partition holding the lease and other keys that exist once."""
        return self._partitions[0]


class MovingLayout(Layout):
    """The layout while a repartition moves data from `source` partitions to `target`.

    New data goes where the target count puts it; existing data is looked for there
    first, then where the source count put it. Claims, listings and sweeps cover the
    partitions of both counts (partition N is the same keys in both)."""

    def __init__(self, prefix: str, source: int, target: int) -> None:
        super().__init__(prefix, max(source, target))
        self.source = source
        self.target = target

    def for_id(self, message_id: str) -> Keys:
        return self._partitions[partition_of(message_id, self.target)]

    def homes(self, message_id: str) -> list[Keys]:
        new = partition_of(message_id, self.target)
        old = partition_of(message_id, self.source)
        return (
            [self._partitions[new]]
            if new == old
            else [
                self._partitions[new],
                self._partitions[old],
            ]
        )

    @property
    def moving(self) -> tuple[int, int] | None:
        return (self.source, self.target)

    @property
    def name(self) -> str:
        return f"{self.source}>{self.target}"


def layout_named(prefix: str, name: str) -> Layout:
    """The layout a state such as `16` or `1>16` names."""
    source, _, target = name.partition(">")
    if target:
        return MovingLayout(prefix, int(source), int(target))
    return Layout(prefix, int(source))
