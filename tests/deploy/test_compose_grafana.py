"""Grafana in the compose `observability` profile: provisioned with the chart's dashboard and
the compose Prometheus, from files that exist. Nothing here starts a container; the compose
file's schema and `docker compose config` are checked in test_static_checks.py."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.support.deploytools import CHART, REPO

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
DASHBOARD = CHART / "files" / "grafana-dashboard.json"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def grafana() -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"]["grafana"]
    return service


def mounts(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Container path to the repository path of every bind mount from the repository."""
    found = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[PurePosixPath(target)] = REPO / source
    return found


def host_file(service: dict[str, Any], path: PurePosixPath) -> Path:
    """The repository file a container path of the service shows, through its bind mounts."""
    for target, source in mounts(service).items():
        if path == target or target in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{path} is not mounted from the repository")


def provisioning(kind: str) -> list[dict[str, Any]]:
    files = sorted((PROVISIONING / kind).glob("*.y*ml"))
    assert files, f"no {kind} provisioning file"
    return [yaml.safe_load(path.read_text()) for path in files]


def test_grafana_runs_in_the_observability_profile_only_from_a_pinned_image() -> None:
    service = grafana()
    assert service["profiles"] == ["observability"]
    image = re.fullmatch(r"\$\{GRAFANA_IMAGE:-(grafana/grafana:(\S+))\}", service["image"])
    assert image, service["image"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", image.group(2)), "a version, never latest"


def test_grafana_reads_the_repository_provisioning_and_the_chart_dashboard() -> None:
    targets = mounts(grafana())
    assert targets[PurePosixPath("/etc/grafana/provisioning")] == PROVISIONING
    assert DASHBOARD in targets.values(), "compose shows the dashboard the chart ships"
    for source in targets.values():
        assert source.exists(), source
    assert all(volume.endswith(":ro") for volume in grafana()["volumes"] if volume[0] == ".")


def test_the_datasource_is_the_compose_prometheus() -> None:
    (config,) = provisioning("datasources")
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    url = urlsplit(source["url"])
    services = compose()["services"]
    prometheus = services[url.hostname]
    assert "prometheus" in prometheus["image"]
    # The port Prometheus listens on inside its container: the right side of its mapping,
    # and the default of --web.listen-address, which compose does not change.
    container_ports = {int(str(port).rsplit(":", 1)[1]) for port in prometheus["ports"]}
    assert container_ports == {9090} and url.port == 9090
    assert "command" not in prometheus
    assert set(grafana()["profiles"]) <= set(prometheus["profiles"])


def test_the_dashboard_provider_loads_the_mounted_dashboard() -> None:
    (config,) = provisioning("dashboards")
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    folder = PurePosixPath(provider["options"]["path"])
    files = [source for target, source in mounts(grafana()).items() if target.parent == folder]
    assert files == [DASHBOARD]
    board = json.loads(DASHBOARD.read_text())
    variables = {var["name"]: var for var in board["templating"]["list"]}
    # The dashboard picks its data source by type, so the provisioned default fits it.
    assert variables["datasource"]["query"] == "prometheus"


def test_grafana_opens_on_the_dashboard_for_anonymous_viewers_on_this_machine_only() -> None:
    env = grafana()["environment"]
    home = PurePosixPath(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert host_file(grafana(), home) == DASHBOARD
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-admin}"
    assert "GRAFANA_ADMIN_PASSWORD" in (REPO / ".env.example").read_text()
    assert all(str(port).startswith("127.0.0.1:") for port in grafana()["ports"])
    assert "grafana-data" in compose()["volumes"]


def test_the_docs_say_how_to_open_grafana() -> None:
    docs = (REPO / "docs" / "observability.md").read_text()
    assert "## Grafana locally" in docs
    assert "http://localhost:3000" in docs
    assert "docker compose --profile observability up" in docs
