"""Every container asks for what it needs (modest requests, from the figures in docs/deploy.md),
and what we ship gives the API no CPU limit, which would throttle deliveries when they fall due."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.deploytools import CI_VALUES, REPO, kustomize, pod_specs

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def builds(render: Render, tool: Callable[[str], str]) -> dict[str, list[dict[str, Any]]]:
    docs = {"chart:defaults": render()}
    docs.update({f"chart:{path.name}": render(path) for path in CI_VALUES})
    for folder in ("base", "overlays/production"):
        docs[f"k8s:{folder}"] = kustomize(tool("kubectl"), REPO / "k8s" / folder)
    return docs


def test_every_container_requests_cpu_and_memory(builds: dict[str, list[dict[str, Any]]]) -> None:
    for where, docs in builds.items():
        for spec in pod_specs(docs):
            for container in spec["containers"]:
                requests = container.get("resources", {}).get("requests", {})
                assert {"cpu", "memory"} <= set(requests), (where, container["name"])


def test_the_api_defaults_are_the_measured_modest_ones(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    for where in ("chart:defaults", "k8s:base"):
        api = next(
            c for spec in pod_specs(builds[where]) for c in spec["containers"] if c["name"] == "api"
        )
        assert api["resources"] == {"requests": {"cpu": "200m", "memory": "128Mi"}}, where


def test_what_we_ship_sets_no_cpu_limit_on_the_api(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    # A user may set one (ci/everything-on-values.yaml shows how); the defaults do not.
    for where in ("chart:defaults", "k8s:base", "k8s:overlays/production"):
        for spec in pod_specs(builds[where]):
            for container in spec["containers"]:
                if container["name"] == "api":
                    assert "cpu" not in container.get("resources", {}).get("limits", {}), where
