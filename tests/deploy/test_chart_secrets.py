"""The chart's secrets: checksums that follow the stored values, and renders GitOps can repeat."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from tests.support.deploytools import CHART, helm_template_args, one, run

Render = Callable[..., list[dict[str, Any]]]
EXPLICIT = ["auth.apiToken=explicit-token-0123456789", "redis.auth.password=explicit-redis-pw"]


def checksums(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The checksum/* annotations of the API and Redis pod templates, by workload kind."""
    found = {}
    for kind in ("Deployment", "StatefulSet"):
        annotations = one(docs, kind)["spec"]["template"]["metadata"].get("annotations") or {}
        found.update(
            {f"{kind}:{k}": v for k, v in annotations.items() if k.startswith("checksum/")}
        )
    return found


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_two_renders_with_explicit_values_have_identical_checksums(render: Render) -> None:
    first, second = checksums(render(set=EXPLICIT)), checksums(render(set=EXPLICIT))
    assert {"Deployment:checksum/secret", "StatefulSet:checksum/password"} <= set(first)
    assert first == second


def test_a_new_token_restarts_the_api_and_leaves_redis_alone(render: Render) -> None:
    before = checksums(render(set=EXPLICIT))
    after = checksums(render(set=[*EXPLICIT, "auth.apiToken=another-token-0123456789"]))
    assert after["Deployment:checksum/secret"] != before["Deployment:checksum/secret"]
    assert after["StatefulSet:checksum/password"] == before["StatefulSet:checksum/password"]
    assert after["Deployment:checksum/config"] == before["Deployment:checksum/config"]


def test_a_new_redis_password_restarts_redis_and_the_api(render: Render) -> None:
    before = checksums(render(set=EXPLICIT))
    after = checksums(render(set=[*EXPLICIT, "redis.auth.password=another-redis-pw"]))
    assert after["StatefulSet:checksum/password"] != before["StatefulSet:checksum/password"]
    assert after["Deployment:checksum/secret"] != before["Deployment:checksum/secret"]


def test_checksums_hash_the_generated_values_the_secret_stores(render: Render) -> None:
    # Without a cluster, lookup finds nothing and both values are generated in this render. The
    # annotations must describe those values, not others drawn for the occasion: otherwise the
    # first helm upgrade, which reads the stored values back, changes them and restarts the pods.
    docs = render()
    data = one(docs, "Secret")["data"]
    found = checksums(docs)
    assert found["StatefulSet:checksum/password"] == sha256(data["redis-password"])
    # The chart serialises the data as compact JSON with sorted keys (Go's json.Marshal of a map).
    serialised = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert found["Deployment:checksum/secret"] == sha256(serialised)


def test_existing_secrets_give_byte_identical_renders(tool: Callable[[str], str]) -> None:
    # What Argo CD needs: nothing generated, so every sync renders the same manifests.
    args = helm_template_args(tool("helm"), CHART / "ci" / "gitops-bundled-redis-values.yaml", ())
    first, second = run(args), run(args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert "kind: Secret" not in first.stdout


def install_notes(tool: Callable[[str], str], *sets: str) -> str:
    args = [tool("helm"), "install", "sched", str(CHART), "--dry-run=client", "-n", "scheduler"]
    result = run([*args, *(arg for item in sets for arg in ("--set", item))])
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_warn_that_generated_secrets_do_not_survive_gitops(
    tool: Callable[[str], str],
) -> None:
    notes = install_notes(tool)
    assert "lookup" in notes and "Argo CD" in notes
    assert "auth.existingSecret and redis.auth.existingSecret" in notes
    quiet = install_notes(tool, "auth.existingSecret=s", "redis.auth.existingSecret=r")
    assert "lookup" not in quiet
