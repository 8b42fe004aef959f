"""The kustomize manifests: they build, pass strict schemas, production only patches the base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.deploytools import K8S_DIRS, REPO, kustomize, of_kind, one, run

IDS = [str(folder.relative_to(REPO)) for folder in K8S_DIRS]


@pytest.mark.parametrize("folder", K8S_DIRS, ids=IDS)
def test_kustomize_output_passes_strict_kubernetes_schemas(
    tool: Callable[[str], str], folder: Path
) -> None:
    built = run([tool("kubectl"), "kustomize", str(folder)])
    assert built.returncode == 0, built.stderr
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", "-"], stdin=built.stdout)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_has_the_api_and_a_single_node_redis(tool: Callable[[str], str]) -> None:
    docs = kustomize(tool("kubectl"), REPO / "k8s" / "base")
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} >= {
        ("Deployment", "scheduler-api"),
        ("Service", "scheduler-api"),
        ("Secret", "scheduler-api"),
        ("StatefulSet", "scheduler-api-redis"),
        ("Service", "scheduler-api-redis"),
    }
    assert one(docs, "StatefulSet")["spec"]["replicas"] == 1


def test_production_overlay_patches_the_base(tool: Callable[[str], str]) -> None:
    docs = kustomize(tool("kubectl"), REPO / "k8s" / "overlays" / "production")
    assert {d["metadata"].get("namespace") for d in docs} == {"scheduler-api"}
    assert not of_kind(docs, "Secret"), "production must not ship the example Secret"
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"]
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert len(of_kind(docs, "NetworkPolicy")) == 2
