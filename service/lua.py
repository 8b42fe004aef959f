"""The Lua scripts: their source (with the generated prelude), loading and running them.

Every script gets the keys of its partition that it names (MSGS, DUE, ...), in
`keys.SCRIPT_KEYS` order, and a prelude that binds those names and the record's field
positions (F_DUE, ...), generated here from the Python definitions, so Python and Lua
cannot disagree.
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
    "replica_report",
    "repartition_step",
    "move_out",
    "move_in",
    "move_done",
)


class Scripts:
    """Every script, registered once (redis-py sends EVALSHA and reloads on NOSCRIPT).

    `cluster`: the scripts reach each label index before their first write (_lib.lua,
    reach_labels), which only a Cluster needs: there a slot may migrate while a script
    runs. On one Redis (or behind Sentinel) no key can move, and they skip it."""

    def __init__(self, redis: Redis, *, cluster: bool = True) -> None:
        self._redis = redis
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source(name, cluster=cluster)) for name in NAMES
        }
        self._scripts[PAGE_MERGED] = redis.register_script(page_merged_source())

    async def run(
        self,
        name: str,
        keys: Keys,
        *args: Any,
        extra: Sequence[str] = (),
        client: Pipeline | None = None,
    ) -> Any:
        """Run `name` with the partition's keys it names (and `extra` keys after them)."""
        named = keys.script_keys(key_names(name))
        all_keys = named + list(extra) if extra else named
        return await self._scripts[name](keys=all_keys, args=list(args), client=client)

    async def page_merged(
        self, partitions: Sequence[Keys], limit: int, first_ask: int, page_args: Sequence[Any]
    ) -> Any:
        """One page over `partitions`, merged inside Redis: the rows safe to show, one
        partition's after another, each in order (paging.merged_reply sorts them). Only on
        one Redis: the call names keys of several hash tags, which a Cluster refuses."""
        keys = list(_merged_keys(tuple(partitions)))
        args = [len(partitions), limit, first_ask, *page_args]
        return await self._scripts[PAGE_MERGED](keys=keys, args=args)

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
        sha, names = self._scripts[name].sha, key_names(name)
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                script_keys = keys.script_keys(names)
                pipe.evalsha(sha, len(script_keys), *script_keys, *args)
            return list(await pipe.execute(raise_on_error=False))


PAGE_MERGED = "page_merged"


@cache
def _merged_keys(partitions: tuple[Keys, ...]) -> tuple[bytes, ...]:
    """page.lua's keys of every partition in turn, built once per layout (at 16
    partitions, 96 keys every page)."""
    names = key_names("page")
    return tuple(key for partition in partitions for key in partition.script_keys(names))


@cache
def page_merged_source() -> str:
    """A page over several partitions of one Redis in one script call: _page_merge.lua
    around page.lua, whose body becomes a function of its own ARGV that a filtered page
    calls for each partition (and again for one that holds more of the page than it was
    first asked for), with that partition's keys; an unfiltered page reads the indexes by
    rank itself.

    Generated from page.lua, so the two cannot drift: its key names (and the label keys'
    tag, `TAG`) are locals that `use(n)` assigns before each call, which the library's
    functions see as they see the prelude's. KEYS: page.lua's keys of each partition in
    turn."""
    flags, body = _script_text("page")
    merge = _script_text("_page_merge")[1]
    names = [name.upper() for name in key_names("page")]
    library = "\n".join(_library_for(body + "\n" + merge))
    tag_line = "local TAG = string.sub(MSGS, 1, #MSGS - 4)"
    if tag_line not in library:  # _lib.lua changed how TAG is made: update this too
        raise RuntimeError(f"page_merged: _lib.lua no longer has `{tag_line}`")
    library = library.replace(tag_line, "local TAG")
    bind = "\n".join(f"  {name} = KEYS[base + {n}]" for n, name in enumerate(names, start=1))
    prelude = _prelude(()) + f"local {', '.join(names)}\n"
    functions = f"""
local function use(n)
  local base = (n - 1) * {len(names)}
{bind}
  TAG = string.sub(MSGS, 1, #MSGS - 4)
end
local function page_one(ARGV)
{body}
end
"""
    return "\n".join(part for part in (flags, prelude, library, functions, merge) if part)


@cache
def key_names(name: str) -> tuple[str, ...]:
    """The partition keys the script names, itself or through the library, in SCRIPT_KEYS
    order: only those are sent. redis-py packs every key of every call, and the sweep's
    calls spent more time packing eighteen key names than anything else."""
    text = "\n".join((*_library_for(_script_text(name)[1]), _script_text(name)[1]))
    return tuple(key for key in SCRIPT_KEYS if re.search(rf"\b{key.upper()}\b", text))


@cache
def source(name: str, *, cluster: bool = True) -> str:
    """A script's source: its flags line, the generated prelude, the library, the script.

    Flags (Redis 7 shebang) let the scripts that free or barely grow memory (claim,
    settle, cancel, housekeeping) run when Redis is at maxmemory, so a full store can
    still deliver and drain; only scheduling new messages is refused. Listing scripts
    are `no-writes`, so they answer too. Without `cluster`, reach_labels does nothing
    (Scripts says why).
    """
    flags, body = _script_text(name)
    library = "\n".join(_library_for(body, cluster=cluster))
    return "\n".join(part for part in (flags, _prelude(key_names(name)), library, body) if part)


@cache
def _script_text(name: str) -> tuple[str, str]:
    """(flags line or '', the script) as written in scripts/."""
    body = resources.files(__package__).joinpath("scripts", f"{name}.lua").read_text()
    if body.startswith("#!lua"):
        flags, _, body = body.partition("\n")
        return flags, body
    return "", body


def _library_for(body: str, *, cluster: bool = True) -> list[str]:
    """The library's definitions that `body` uses, directly or through each other, in
    library order. Lua builds every function of a script at each call (a closure each):
    the whole library cost about 15 us per call, more than a small script itself."""
    blocks = _library_blocks()
    if not cluster:
        # An EXISTS per label index on every labelled write: measurable on one Redis
        # (`python -m bench.ack_cost`), and useless there.
        blocks = {**blocks, "reach_labels": _NO_REACH}
    wanted: set[str] = set()
    pending = [body]
    while pending:
        text = pending.pop()
        for name, block in blocks.items():
            if name not in wanted and re.search(rf"\b{name}\b", text):
                wanted.add(name)
                pending.append(block)
    return [block for name, block in blocks.items() if name in wanted]


_NO_REACH = "local function reach_labels(f, kind) end  -- (one Redis: lua.Scripts)"


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


def _prelude(names: tuple[str, ...]) -> str:
    keys = ", ".join(name.upper() for name in names)
    slots = ", ".join(f"KEYS[{i}]" for i in range(1, len(names) + 1))
    fields = ", ".join(f"F_{name.upper()}" for name in META_FIELDS)
    positions = ", ".join(str(i) for i in range(1, len(META_FIELDS) + 1))
    return (
        (f"local {keys} = {slots}\n" if names else "") + f"local {fields} = {positions}\n"
        f"local META_FIELDS = {len(META_FIELDS)}\n"
        f"local SCRIPT_KEY_COUNT = {len(names)}\n"
    )
