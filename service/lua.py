"""The Lua scripts: their source (with the generated prelude), loading and running them.

Every script gets its partition's keys in the one order `keys.SCRIPT_KEYS` sets, and a
prelude that names them (MSGS, DUE, ...) and the record's field positions (F_DUE,
...), generated here from the Python definitions, so Python and Lua cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from .keys import SCRIPT_KEYS, Keys
from .records import META_FIELDS

NAMES = (
    "schedule",
    "claim",
    "ack",
    "retry",
    "dead_letter",
    "cancel",
    "cancel_labelled",
    "patch",
    "redrive",
    "page",
    "recover",
    "purge_dead",
    "purge_history",
    "lease_acquire",
    "lease_release",
    "stats",
    "migrate",
    "sched_put",
    "sched_advance",
    "sched_delete",
    "sched_page",
)


class Scripts:
    """Every script, registered once (redis-py sends EVALSHA and reloads on NOSCRIPT)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source(name)) for name in NAMES
        }

    async def run(
        self,
        name: str,
        keys: Keys,
        *args: Any,
        extra: Sequence[str] = (),
        client: Pipeline | None = None,
    ) -> Any:
        """Run `name` with the partition's keys (and `extra` keys after them)."""
        all_keys = keys.script_keys() + list(extra) if extra else keys.script_keys()
        return await self._scripts[name](keys=all_keys, args=list(args), client=client)

    async def run_many(self, name: str, calls: Sequence[tuple[Keys, Sequence[Any]]]) -> list[Any]:
        """Run `name` once per (keys, args), in one pipeline of EVALSHA; the answers in order.

        Not redis-py's pipelined scripts: those ask SCRIPT EXISTS first, one more round
        trip for every pipeline. A call answered NOSCRIPT (Redis restarted or failed over
        since the script was loaded) did not run, so it is run again once the script is
        loaded. The first other error is raised, as a pipeline does.
        """
        script = self._scripts[name]
        answers = await self._evalsha_each(script, calls)
        missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if missing:
            script.sha = await self._redis.script_load(script.script)
            again = await self._evalsha_each(script, [calls[i] for i in missing])
            for i, answer in zip(missing, again, strict=True):
                answers[i] = answer
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    async def _evalsha_each(
        self, script: AsyncScript, calls: Sequence[tuple[Keys, Sequence[Any]]]
    ) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                script_keys = keys.script_keys()
                pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
            return list(await pipe.execute(raise_on_error=False))


@cache
def source(name: str) -> str:
    """A script's source: its flags line, the generated prelude, the library, the script.

    Flags (Redis 7 shebang) let the scripts that free or barely grow memory (claim,
    settle, cancel, housekeeping) run when Redis is at maxmemory, so a full store can
    still deliver and drain; only scheduling new messages is refused. Listing scripts
    are `no-writes`, so they answer too.
    """
    folder = resources.files(__package__).joinpath("scripts")
    library = folder.joinpath("_lib.lua").read_text()
    body = folder.joinpath(f"{name}.lua").read_text()
    flags = ""
    if body.startswith("#!lua"):
        flags, _, body = body.partition("\n")
    return "\n".join(part for part in (flags, _prelude(), library, body) if part)


def _prelude() -> str:
    keys = ", ".join(name.upper() for name in SCRIPT_KEYS)
    slots = ", ".join(f"KEYS[{i}]" for i in range(1, len(SCRIPT_KEYS) + 1))
    fields = ", ".join(f"F_{name.upper()}" for name in META_FIELDS)
    positions = ", ".join(str(i) for i in range(1, len(META_FIELDS) + 1))
    return (
        f"local {keys} = {slots}\n"
        f"local {fields} = {positions}\n"
        f"local META_FIELDS = {len(META_FIELDS)}\n"
        f"local SCRIPT_KEY_COUNT = {len(SCRIPT_KEYS)}\n"
    )
