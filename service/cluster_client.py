"""The Redis Cluster client: redis-py's RedisCluster, with scripts that survive new primaries.

redis-py routes every key to its slot's primary and follows MOVED and ASK by itself; a
partition's keys share one hash tag, so each script runs on one node. Two things it does
not do for us live here:

- A script called on its own is loaded where it is missing (EVALSHA, NOSCRIPT, SCRIPT
  LOAD on every primary, EVALSHA again), but redis-py refuses scripts in a cluster
  pipeline, because nothing would load one there: a replica promoted by a failover, or
  a node added by resharding, starts with an empty script cache. So our pipelines
  accept EVALSHA, and before one runs every registered script is loaded on every
  primary, once per set of primaries.
- INFO goes to one arbitrary node; `memory_of` reads the nodes that hold the schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


class ScriptedCluster(RedisCluster):
    """A RedisCluster whose pipelines find every registered script on every primary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sources: list[str | bytes] = []
        self._loaded_on: frozenset[str] = frozenset()

    def register_script(self, script: str | bytes) -> AsyncScript:  # type: ignore[override]
        self._sources.append(script)
        return super().register_script(script)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # redis-py's own refusal
        # redis-py declares an attribute abstract that its own ClusterPipeline never sets.
        return _ScriptedPipeline(self, transaction)  # type: ignore[abstract]

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every registered script on every primary, unless done for these."""
        await self.initialize()
        primaries = frozenset(node.name for node in self.get_primaries())
        if primaries == self._loaded_on:
            return
        for source in self._sources:
            await self.script_load(source)  # redis-py sends it to every primary
        self._loaded_on = primaries

    def forget_scripts(self) -> None:
        """A node answered NOSCRIPT (it restarted): load everything again next time."""
        self._loaded_on = frozenset()


class _ScriptedPipeline(ClusterPipeline):
    """Accepts scripts and loads them first; a call a node still answers NOSCRIPT (it
    lost its cache since) did not run there, so it runs again once the scripts are in."""

    cluster_client: ScriptedCluster

    def __init__(self, client: ScriptedCluster, transaction: Any | None = None) -> None:
        super().__init__(client, transaction)
        self._queued: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **kwargs: Any) -> ClusterPipeline:
        self._queued.append(args)
        return super().execute_command(*args, **kwargs)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Queued like any command with keys, routed by their slot. redis-py refuses
        EVALSHA in a cluster pipeline because a node may lack the script; execute()
        loads every script on every primary first, which is what makes it safe."""
        return _Queued(self.execute_command("EVALSHA", sha, numkeys, *keys_and_args))

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        queued, self._queued = self._queued, []
        if queued:
            await self.cluster_client.load_scripts()
        results = await super().execute(False, allow_redirections)
        if len(results) == len(queued) and any(isinstance(r, NoScriptError) for r in results):
            results = await self._again(queued, results)
        if raise_on_error:
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return results

    async def _again(self, queued: list[tuple[Any, ...]], results: list[Any]) -> list[Any]:
        """Load every script anew, then run each call that met NOSCRIPT on its own."""
        client = self.cluster_client
        client.forget_scripts()
        await client.load_scripts()
        again = list(results)
        for position, result in enumerate(results):
            if isinstance(result, NoScriptError):
                try:
                    again[position] = await client.execute_command(*queued[position])
                except Exception as error:  # kept as the call's result, like the pipeline's
                    again[position] = error
        return again


class _Queued:
    """What a queued command returns when awaited: the pipeline, as it stands.

    AsyncScript awaits `evalsha` even on a pipeline; awaiting a ClusterPipeline itself
    would run its initialize(), which empties the queue.
    """

    def __init__(self, pipeline: ClusterPipeline) -> None:
        self.pipeline = pipeline

    def __await__(self) -> Generator[None, None, ClusterPipeline]:
        return self.pipeline
        yield  # a generator that finishes at once, with the pipeline as its value


async def memory_of(client: Redis | RedisCluster, keys: Sequence[str]) -> tuple[int, int]:
    """(used_memory, maxmemory) in bytes (0: no limit) of the fullest node holding `keys`.

    On one Redis that is the server. On a Cluster, each primary holding one of `keys`
    (one key per partition) is asked, and the one nearest its maxmemory is reported: a
    write is refused (OOM) by the node it goes to, so the fullest node is the one that
    stops the schedule first, whatever the others have left.
    """
    if not isinstance(client, RedisCluster):
        return _memory(await client.info("memory"))
    await client.initialize()
    nodes = {node.name: node for node in map(client.get_node_from_key, keys) if node}
    replies = await asyncio.gather(
        *(client.info("memory", target_nodes=node) for node in nodes.values())
    )
    return max((_memory(reply) for reply in replies), key=_fullness)


def _memory(info: dict[str, Any]) -> tuple[int, int]:
    return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))


def _fullness(memory: tuple[int, int]) -> tuple[float, int]:
    used, limit = memory
    return (used / limit if limit else 0.0, used)
