"""The Lua scripts: their source (with the generated prelude), loading and running them.

Every script gets its partition's keys in the one order `keys.SCRIPT_KEYS` sets, and a
prelude that names them (MSGS, DUE, ...) and the record's field positions (F_DUE,
...), generated here from the Python definitions, so Python and Lua cannot disagree.
"""

from __future__ import annotations

import re
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
    "lease_mirror",
    "stats",
    "migrate",
    "sched_put",
    "sched_advance",
    "sched_delete",
    "sched_page",
    "partition_count",
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
        answers = await self._evalsha_each(name, calls)
        missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if missing:
            script.sha = await self._redis.script_load(script.script)
            again = await self._evalsha_each(name, [calls[i] for i in missing])
            for i, answer in zip(missing, again, strict=True):
                answers[i] = answer
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    async def _evalsha_each(
        self, name: str, calls: Sequence[tuple[Keys, Sequence[Any]]]
    ) -> list[Any]:
        sha, count = self._scripts[name].sha, key_count(name)
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                script_keys = keys.script_keys()[:count]
                pipe.evalsha(sha, len(script_keys), *script_keys, *args)
            return list(await pipe.execute(raise_on_error=False))


@cache
def key_count(name: str) -> int:
    """How many of SCRIPT_KEYS the script reads: up to the last one it names (the rest
    are nil in its prelude). A merged page calls a script per partition, and packing
    eighteen keys each was a good part of its cost. Scripts that take extra keys after
    SCRIPT_KEYS get them all, so that the extra ones stay where they expect them."""
    body = source(name).split("local SCRIPT_KEY_COUNT", 1)[1]
    if "SCRIPT_KEY_COUNT" in body:
        return len(SCRIPT_KEYS)
    used = [n for n, key in enumerate(SCRIPT_KEYS) if re.search(rf"\b{key.upper()}\b", body)]
    return max(used, default=0) + 1


@cache
def source(name: str) -> str:
    """A script's source: its flags line, the generated prelude, the library, the script.

    Flags (Redis 7 shebang) let the scripts that free or barely grow memory (claim,
    settle, cancel, housekeeping) run when Redis is at maxmemory, so a full store can
    still deliver and drain; only scheduling new messages is refused. Listing scripts
    are `no-writes`, so they answer too.
    """
    folder = resources.files(__package__).joinpath("scripts")
    body = folder.joinpath(f"{name}.lua").read_text()
    flags = ""
    if body.startswith("#!lua"):
        flags, _, body = body.partition("\n")
    library = "\n".join(_library_for(body))
    return "\n".join(part for part in (flags, _prelude(), library, body) if part)


def _library_for(body: str) -> list[str]:
    """The library's definitions that `body` uses, directly or through each other, in
    library order. Lua builds every function of a script at each call (a closure each):
    the whole library cost about 15 us per call, more than a small script itself."""
    blocks = _library_blocks()
    wanted: set[str] = set()
    pending = [body]
    while pending:
        text = pending.pop()
        for name, block in blocks.items():
            if name not in wanted and re.search(rf"\b{name}\b", text):
                wanted.add(name)
                pending.append(block)
    return [block for name, block in blocks.items() if name in wanted]


@cache
def _library_blocks() -> dict[str, str]:
    """_lib.lua cut into its top-level definitions (`local function f` or `local X`),
    each with the comment lines above it, by the name it defines."""
    text = resources.files(__package__).joinpath("scripts", "_lib.lua").read_text()
    blocks: dict[str, str] = {}
    lines: list[str] = []
    name = ""
    for line in text.splitlines():
        defined = re.match(r"local (?:function )?([A-Za-z_][A-Za-z0-9_]*)", line)
        if defined and name:
            comments = _trailing_comments(lines)
            blocks[name] = "\n".join(lines[: len(lines) - len(comments)])
            lines = comments
        if defined:
            name = defined.group(1)
        lines.append(line)
    if name:
        blocks[name] = "\n".join(lines)
    return blocks


def _trailing_comments(lines: list[str]) -> list[str]:
    """The comment lines (and blank lines) at the end of `lines`."""
    count = 0
    for line in reversed(lines):
        if line.startswith("--") or not line.strip():
            count += 1
        else:
            break
    return lines[len(lines) - count :]


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
