"""The profile section: where the service's samples fell under the create and burst loads."""

from __future__ import annotations

from typing import Any

from bench.report.numbers import n, pct

Doc = dict[str, Any]
MIN_PACKAGE_SHARE = 0.005  # packages below half a percent are left out of the table


def profile(f: Doc, doc: Doc) -> str:
    parts = [
        "py-spy samples the service process at 100 Hz (`--nonblocking`, on-CPU",
        "samples only, so idle waiting is left out). Shares are of all samples taken",
        'while the service was busy. "Own" counts the function at the top of the',
        'stack; "inclusive" counts every function on the stack (frames under every',
        "sample, such as `main` and uvicorn's `Server.run`, are left out). Under uvloop",
        "a task's Python stack starts at its coroutine, and time in uvloop's own C code",
        "(polling, callbacks, socket writes) shows as `Runner.run` at the top: it is",
        'listed as "event loop (uvloop, C)".',
        "",
    ]
    parts += [_one(key, f[key]) for key in ("create", "burst") if f.get(key)]
    return "\n".join(parts) + "\n"


def _one(key: str, p: Doc) -> str:
    rate = p.get("requests_per_second_while_sampled") or p.get(
        "deliveries_per_second_while_sampled"
    )
    lines = [
        f"### Under {key}: {p['load']} ({n(rate)}/s while sampled, "
        f"{p.get('main_thread_samples', p['samples'])} main-thread samples)",
        "",
        f"    {p['command']}",
        "",
        _threads(p),
        "",
        _leading(p["own_by_package"]),
        "",
        "| By package (own) | Share |",
        "|---|---|",
    ]
    lines += [
        f"| {r['name']} | {pct(r['share'])} |"
        for r in p["own_by_package"][:10]
        if r["share"] >= MIN_PACKAGE_SHARE
    ]
    lines += ["", "| Function, own | Share |", "|---|---|"]
    lines += [f"| `{r['name']}` | {pct(r['share'])} |" for r in p["own"][:12]]
    lines += ["", "| Function, inclusive | Share |", "|---|---|"]
    lines += [f"| `{r['name']}` | {pct(r['share'])} |" for r in p["inclusive"][:20]]
    return "\n".join(lines) + "\n"


def _leading(packages: list[Doc]) -> str:
    """The two packages with the most own samples, as a sentence."""
    if len(packages) < 2:
        return ""
    first, second = packages[0], packages[1]
    return (
        f"Most own samples fell in {first['name']} ({pct(first['share'])}), then in"
        f" {second['name']} ({pct(second['share'])})."
    )


def _threads(p: Doc) -> str:
    share = p.get("threadpool_share_of_samples")
    cpu = p.get("cpu_seconds_by_thread")
    if share is None or cpu is None:
        return ""
    if not share:
        return (
            f"No samples in the threadpool; the main thread used {cpu['main']:.2f} s of CPU"
            " over the window (from /proc)."
        )
    return (
        f"{pct(share)} of all samples were in anyio worker threads (the threadpool"
        " FastAPI runs `def` dependencies and routes in), whose real CPU over the same"
        f" window was {cpu['other_threads']:.2f} s against {cpu['main']:.2f} s for the main"
        " thread (from /proc). py-spy's `--nonblocking` mode counts a parked thread as"
        " running, so the tables below count the main thread's samples only."
    )
