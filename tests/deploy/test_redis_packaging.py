"""The bundled Redis is one thing wherever it is packaged: chart, k8s/ and docker-compose.yml run
the same pinned image, the same start script and probe, the same persistence flags, never pass
the password on a command line, and give a restart the time loading its data takes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploytools import CHART, REPO, kustomize, one

Render = Callable[..., list[dict[str, Any]]]
START = (CHART / "files" / "redis-start.sh").read_text()
PROBE = (CHART / "files" / "redis-probe.sh").read_text()
K8S = ("base", "overlays/production")
# The first release of each line with the fix for CVE-2025-49844 (use-after-free in the Lua
# engine) and the other Lua fixes published with it; this service runs Lua all day.
PATCHED = {
    ("valkey/valkey", "8.1"): (8, 1, 4),
    ("valkey/valkey", "8.0"): (8, 0, 6),
    ("redis", "7.4"): (7, 4, 6),
    ("redis", "8.2"): (8, 2, 2),
}
# Flags that decide what survives a restart; every packaging sets them alike.
PERSISTENCE = (
    "--appendonly",
    "--appendfsync",
    "--auto-aof-rewrite-percentage",
    "--auto-aof-rewrite-min-size",
    "--maxmemory-policy",
)


def pinned() -> str:
    image = yaml.safe_load((CHART / "values.yaml").read_text())["redis"]["image"]
    return f"{image['repository']}:{image['tag']}"


class _ComposeLoader(yaml.SafeLoader):
    """Reads compose's own tags (`!reset`, `!override`) as plain values."""


_ComposeLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_mapping(node)
    ),
)


def compose(path: str = "docker-compose.yml") -> dict[str, Any]:
    document = yaml.load((REPO / path).read_text(), Loader=_ComposeLoader)
    service: dict[str, Any] = document["services"]["redis"]
    return service


def compose_default(value: str) -> str:
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def unescape(text: str) -> str:
    """Compose's `$$` is a literal `$`."""
    return text.replace("$$", "$")


def flags(args: list[str]) -> dict[str, str]:
    return dict(zip(args[::2], args[1::2], strict=False))


@pytest.fixture(scope="module")
def statefulsets(render: Render, tool: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """The Redis StatefulSet of the chart's defaults and of each kustomize build."""
    found = {"chart": one(render(), "StatefulSet")}
    for folder in K8S:
        found[f"k8s/{folder}"] = one(
            kustomize(tool("kubectl"), REPO / "k8s" / folder), "StatefulSet"
        )
    return found


def container(statefulset: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = statefulset["spec"]["template"]["spec"]["containers"][0]
    return found


def probe_budget(probe: dict[str, Any]) -> int:
    return int(probe["periodSeconds"]) * int(probe["failureThreshold"])


def test_one_pinned_and_patched_image_everywhere(
    statefulsets: dict[str, dict[str, Any]],
) -> None:
    image = pinned()
    for where, statefulset in statefulsets.items():
        assert container(statefulset)["image"] == image, where
    assert compose_default(compose()["image"]) == image
    assert compose_default(compose("tests/deploy/compose.host-network.yml")["image"]) == image
    from tests.e2e.test_kind import REDIS_IMAGE

    assert image == REDIS_IMAGE
    repository, tag = image.rsplit(":", 1)
    version = tuple(int(part) for part in tag.split("."))
    line = f"{version[0]}.{version[1]}"
    assert (repository, line) in PATCHED, f"{image}: no known patched release of this line"
    assert version >= PATCHED[repository, line], f"{image} predates the CVE-2025-49844 fix"


def test_every_packaging_runs_the_same_start_script_and_probes(
    statefulsets: dict[str, dict[str, Any]],
) -> None:
    for where, statefulset in statefulsets.items():
        redis = container(statefulset)
        assert redis["command"] == ["sh", "-c", START, "redis-start"], where
        for name, mode in (
            ("startupProbe", "ready"),
            ("livenessProbe", "alive"),
            ("readinessProbe", "ready"),
        ):
            command = redis[name]["exec"]["command"]
            assert command == ["sh", "-c", PROBE, "redis-probe", mode], (where, name)
    service = compose()
    assert [unescape(part) for part in service["entrypoint"]] == ["sh", "-c", START, "redis-start"]
    test = [unescape(part) for part in service["healthcheck"]["test"]]
    assert test == ["CMD", "sh", "-c", PROBE, "redis-probe", "ready"]


def test_no_packaging_puts_the_password_on_a_command_line(
    statefulsets: dict[str, dict[str, Any]],
) -> None:
    for where, statefulset in statefulsets.items():
        spec = statefulset["spec"]["template"]["spec"]
        redis = container(statefulset)
        assert not [a for a in redis["args"] if "requirepass" in a or ("$(" in a and "PASS" in a)]
        env = {e["name"]: e for e in redis["env"]}
        assert not [e for e in env.values() if "valueFrom" in e], f"{where}: a secret in env"
        password_file = Path(env["REDIS_PASSWORD_FILE"]["value"])
        mount = next(
            m for m in redis["volumeMounts"] if m["mountPath"] == str(password_file.parent)
        )
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert [item["path"] for item in volume["secret"]["items"]] == [password_file.name], where
        assert mount["readOnly"] is True
    service = compose()
    assert not [a for a in service["command"] if "requirepass" in a or "PASSWORD" in a]
    # Named only when REDIS_PASSWORD is not empty: compose makes no file for an empty one.
    file = "${REDIS_PASSWORD:+/run/secrets/redis-password}"
    assert service["environment"] == {"REDIS_PASSWORD_FILE": file}
    assert service["secrets"] == ["redis-password"]
    secrets = yaml.safe_load((REPO / "docker-compose.yml").read_text())["secrets"]
    assert secrets["redis-password"] == {"environment": "REDIS_PASSWORD"}


def test_the_config_file_with_the_password_stays_in_memory(
    statefulsets: dict[str, dict[str, Any]],
) -> None:
    for where, statefulset in statefulsets.items():
        spec = statefulset["spec"]["template"]["spec"]
        mount = next(m for m in container(statefulset)["volumeMounts"] if m["mountPath"] == "/tmp")
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert volume["emptyDir"]["medium"] == "Memory", where
    service = compose()
    assert service["tmpfs"] == ["/tmp"]


def test_every_packaging_persists_alike(statefulsets: dict[str, dict[str, Any]]) -> None:
    seen = {where: flags(container(s)["args"]) for where, s in statefulsets.items()}
    seen["docker-compose.yml"] = flags([compose_default(a) for a in compose()["command"]])
    wanted = {flag: seen["chart"][flag] for flag in PERSISTENCE}
    assert wanted["--appendonly"] == "yes"
    for where, found in seen.items():
        assert {flag: found.get(flag) for flag in PERSISTENCE} == wanted, where


def chart_budget(render: Render, maxmemory: str) -> int:
    """Seconds the chart's startup probe allows for a store of this maxmemory."""
    statefulset = one(render(set=[f"redis.maxmemory={maxmemory}"]), "StatefulSet")
    return probe_budget(container(statefulset)["startupProbe"])


def redis_mb(value: str) -> str:
    """`400mb` (Redis's MiB) as a Kubernetes quantity."""
    match = re.fullmatch(r"(\d+)mb", value)
    assert match, value
    return f"{match.group(1)}Mi"


def test_a_restart_has_the_time_loading_maxmemory_takes(
    render: Render, statefulsets: dict[str, dict[str, Any]]
) -> None:
    # The chart derives the budget from maxmemory (templates/_helpers.tpl); k8s/ and compose
    # spell theirs out and must allow at least as much for the maxmemory they set.
    small, large = chart_budget(render, "512Mi"), chart_budget(render, "8Gi")
    assert 60 < small < large
    for folder in K8S:
        redis = container(statefulsets[f"k8s/{folder}"])
        maxmemory = next(e["value"] for e in redis["env"] if e["name"] == "REDIS_MAXMEMORY")
        assert probe_budget(redis["startupProbe"]) >= chart_budget(render, redis_mb(maxmemory))
    service = compose()
    maxmemory = compose_default(flags(service["command"])["--maxmemory"])
    start_period = re.fullmatch(r"(\d+)s", service["healthcheck"]["start_period"])
    assert start_period is not None
    assert int(start_period.group(1)) >= chart_budget(render, redis_mb(maxmemory))


def test_chart_takes_an_explicit_startup_budget(render: Render) -> None:
    statefulset = one(render(set=["redis.startupProbe.failureThreshold=500"]), "StatefulSet")
    assert container(statefulset)["startupProbe"]["failureThreshold"] == 500


def test_liveness_gives_up_only_after_a_minute(statefulsets: dict[str, dict[str, Any]]) -> None:
    # It counts LOADING as alive; what it catches is a hung or dead server.
    for where, statefulset in statefulsets.items():
        assert probe_budget(container(statefulset)["livenessProbe"]) >= 60, where
