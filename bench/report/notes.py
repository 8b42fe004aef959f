"""Lines several sections share: when a scenario ran, how its loading went, what options
its messages carried."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Doc = dict[str, Any]


def ran(entry: Doc) -> str:
    """The provenance line under a section: when, at what scale and commit, how long."""
    commit = f", commit {entry['commit']}" if entry.get("commit") else ""
    if entry.get("cpu"):
        commit += f", {entry['cpu']} ({entry['cores']} cores)"
    load = entry.get("load_average")
    busy = f"; load average {load[0]:g} at the start, {load[1]:g} at the end" if load else ""
    return (
        f"\n_Ran {entry['ran_at']}, {entry['scale']} scale{commit}, "
        f"{entry['wall_seconds']:.0f} s{busy}._\n"
    )


def loading(runs: Iterable[Any]) -> str:
    """Whether loading ended before the messages fell due, and what the loader retried."""
    loaded = [r for r in runs if isinstance(r, dict) and "load" in r]
    if not loaded:
        return ""
    late = [r for r in loaded if _finished_before_due(r) is False]
    notes = [
        f"In {len(late)} of {len(loaded)} rows loading was still going on when the first"
        " message fell due, so POSTs and deliveries competed for the CPU."
        if late
        else f"In {every(len(loaded))}, loading ended before the first message fell due."
    ]
    retried: dict[str, int] = {}
    for r in loaded:
        for status, count in r["load"].get("retried_after", {}).items():
            retried[status] = retried.get(status, 0) + count
    if retried:
        shown = ", ".join(f"{count} x {status}" for status, count in sorted(retried.items()))
        notes.append(
            f"While loading, `POST /messages` answered {shown}; the loader retried those"
            " as a client would, and every message was accepted in the end (the scenario"
            " stops otherwise)."
        )
    return "\n" + " ".join(notes) + "\n"


def labels(names: list[str], tenants: int | None) -> str:
    """`2 labels (`flow`: one value for all; `tenant`: one of 100 values)`, as
    `bench.bodies.labels` makes them."""
    about = {"flow": "one value for all", "tenant": f"one of {tenants} values" if tenants else ""}
    shown = [f"`{name}`: {about[name]}" if about.get(name) else f"`{name}`" for name in names]
    return f"{len(names)} labels ({'; '.join(shown)})"


def headers(names: list[str]) -> str:
    """`3 headers (`A`, `B`, `C`)`."""
    return f"{len(names)} headers (" + ", ".join(f"`{name}`" for name in names) + ")"


def every(count: int) -> str:
    """`the one row`, `both rows`, `all 3 rows`."""
    return {1: "the one row", 2: "both rows"}.get(count, f"all {count} rows")


def duration(seconds: float) -> str:
    """`45 s`, `1 minute`, `6 minutes`."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    return f"{minutes} minute" + ("s" if minutes > 1 else "")


def _finished_before_due(run: Doc) -> bool | None:
    for key in ("load_finished_before_due", "load_finished_before_first_due"):
        if key in run:
            return bool(run[key])
    return None
