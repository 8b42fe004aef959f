"""Redis memory is bounded wherever the packaging runs it: noeviction, maxmemory under the limit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.support.deploytools import REPO, kustomize, one, run

Render = Callable[..., list[dict[str, Any]]]
# Kubernetes quantities, Redis's own units (redis.conf: 1k = 1000, 1kb = 1024, 1mb = 1024^2) and
# Docker's (binary).
K8S_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
REDIS_UNITS = {"": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}
DOCKER_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def size(text: str, units: dict[str, int]) -> int:
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    assert match and match.group(2) in units, f"unreadable size {text!r}"
    return int(float(match.group(1)) * units[match.group(2)])


def compose_default(value: str) -> str:
    """`${NAME:-default}` -> `default`; anything else unchanged."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def redis_args(container: dict[str, Any]) -> dict[str, str]:
    """The container's `--flag value` pairs, with `$(VAR)` taken from its plain env values."""
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    args = [re.sub(r"\$\((\w+)\)", lambda m: str(env[m.group(1)]), a) for a in container["args"]]
    return dict(zip(args[::2], args[1::2], strict=False))


def chart_redis(render: Render, *sets: str) -> dict[str, Any]:
    container = one(render(set=sets), "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(container, dict)
    return container


def kustomize_redis(kubectl: str, folder: str) -> dict[str, Any]:
    redis = one(kustomize(kubectl, REPO / "k8s" / folder), "StatefulSet")
    container = redis["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(container, dict)
    return container


def compose_redis() -> tuple[dict[str, str], str]:
    """docker-compose.yml's Redis flags and memory limit, with variables at their defaults."""
    redis = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["redis"]
    # The flags alone (the start script is the entrypoint), or after the server's name.
    command = [compose_default(part) for part in redis["command"]]
    flags = command if command[0].startswith("--") else command[1:]
    return dict(zip(flags[::2], flags[1::2], strict=False)), compose_default(redis["mem_limit"])


def test_every_packaging_keeps_noeviction_and_maxmemory_below_the_limit(
    render: Render, tool: Callable[[str], str]
) -> None:
    found: list[tuple[str, dict[str, str], int]] = []  # where, flags, memory limit in bytes
    found.append(
        ("chart", redis_args(chart_redis(render, "redis.resources.limits.memory=1Gi")), 2**30)
    )
    for folder in ("base", "overlays/production"):
        container = kustomize_redis(tool("kubectl"), folder)
        limit = container.get("resources", {}).get("limits", {}).get("memory")
        assert limit, f"k8s/{folder}: the Redis container needs a memory limit"
        found.append((f"k8s/{folder}", redis_args(container), size(limit, K8S_UNITS)))
    args, limit = compose_redis()
    found.append(("docker-compose.yml", args, size(limit, DOCKER_UNITS)))

    assert {flags["--maxmemory-policy"] for _, flags, _ in found} == {"noeviction"}, found
    for where, flags, limit_bytes in found:
        maxmemory = size(flags["--maxmemory"], REDIS_UNITS)
        # Below the limit, with room for the AOF rewrite's copied pages and client buffers.
        assert 0.7 * limit_bytes <= maxmemory <= 0.85 * limit_bytes, (where, maxmemory)


@pytest.mark.parametrize(
    ("limit", "maxmemory"),
    [
        ("512Mi", 429496729),
        ("1Gi", 858993459),
        ("1.5Gi", 1288490188),
        ("1G", 800000000),
        ("1500M", 1200000000),
        ("1073741824", 858993459),
    ],
)
def test_chart_derives_maxmemory_as_80_percent_of_the_limit(
    render: Render, limit: str, maxmemory: int
) -> None:
    args = redis_args(chart_redis(render, f"redis.resources.limits.memory={limit}"))
    assert int(args["--maxmemory"]) == maxmemory


def test_chart_takes_an_explicit_maxmemory_below_the_limit(render: Render) -> None:
    container = chart_redis(render, "redis.maxmemory=900Mi", "redis.resources.limits.memory=1Gi")
    assert int(redis_args(container)["--maxmemory"]) == 900 * 2**20


def test_chart_sets_no_maxmemory_without_a_limit(render: Render) -> None:
    # Nothing to derive it from, and the chart does not guess sizes; its notes say so instead.
    args = redis_args(chart_redis(render))
    assert "--maxmemory" not in args
    assert args["--maxmemory-policy"] == "noeviction"


def test_production_overlay_moves_maxmemory_with_the_limit(tool: Callable[[str], str]) -> None:
    base = kustomize_redis(tool("kubectl"), "base")
    production = kustomize_redis(tool("kubectl"), "overlays/production")
    assert production["resources"]["limits"]["memory"] != base["resources"]["limits"]["memory"]
    assert redis_args(production)["--maxmemory"] != redis_args(base)["--maxmemory"]


class ComposeLoader(yaml.SafeLoader):
    """Reads compose's `!reset` tag, which only compose itself understands, as null."""


ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def test_compose_override_for_tests_keeps_the_bound() -> None:
    text = (REPO / "tests/deploy/compose.host-network.yml").read_text()
    override = yaml.load(text, Loader=ComposeLoader)
    command = override["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "--maxmemory" in command


def test_compose_resolves_maxmemory_and_limit_to_their_defaults(
    tool: Callable[[str], str],
) -> None:
    if (REPO / ".env").exists():
        pytest.skip("a local .env may set REDIS_MAXMEMORY or REDIS_MEMORY_LIMIT")
    unset = [
        "env",
        "-u",
        "REDIS_MAXMEMORY",
        "-u",
        "REDIS_MEMORY_LIMIT",
        "API_TOKEN=compose-config-check",
    ]
    compose = [tool("docker-compose"), "--project-directory", str(REPO), "-f", "docker-compose.yml"]
    result = run([*unset, *compose, "config"])
    assert result.returncode == 0, result.stderr
    redis = yaml.safe_load(result.stdout)["services"]["redis"]
    assert redis["command"][redis["command"].index("--maxmemory") + 1] == "400mb"
    assert int(redis["mem_limit"]) == 512 * 2**20
