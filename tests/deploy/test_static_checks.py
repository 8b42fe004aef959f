"""Static checks of the packaging: checkov, hadolint and the compose file's schema.

checkov's accepted findings live in .checkov.yaml at the repository root, each with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.deploytools import CHART, REPO, helm_template_args, run

CHECKOV_TARGETS = {
    "helm-chart": ["-d", "charts", "--framework", "helm"],
    "kustomize": ["-d", "k8s", "--framework", "kustomize"],
    "dockerfile": ["-f", "Dockerfile", "--framework", "dockerfile"],
}


def checkov(tool: Callable[[str], str], *target: str) -> None:
    result = run(
        [
            tool("checkov"),
            "--config-file",
            str(REPO / ".checkov.yaml"),
            *target,
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("target", CHECKOV_TARGETS.values(), ids=CHECKOV_TARGETS.keys())
def test_checkov_passes(tool: Callable[[str], str], target: list[str]) -> None:
    tool("helm"), tool("kubectl")  # checkov renders charts and overlays with them
    checkov(tool, *target)


# checkov's helm runner renders the defaults only; these cover every optional object (the
# bundled Redis's exporter sidecar is in the GitOps scenario, the rest in everything-on).
@pytest.mark.parametrize(
    "scenario", ["everything-on-values.yaml", "gitops-bundled-redis-values.yaml"]
)
def test_checkov_passes_on_the_scenarios_with_optional_objects(
    tool: Callable[[str], str], tmp_path: Path, scenario: str
) -> None:
    rendered = run(helm_template_args(tool("helm"), CHART / "ci" / scenario, ()))
    assert rendered.returncode == 0, rendered.stderr
    (tmp_path / "rendered.yaml").write_text(rendered.stdout)
    checkov(tool, "-d", str(tmp_path), "--framework", "kubernetes")


def test_hadolint_passes(tool: Callable[[str], str]) -> None:
    result = run([tool("hadolint"), "--failure-threshold", "info", str(REPO / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_spec(tool: Callable[[str], str]) -> None:
    # The host-network override uses compose's `!reset` tag, which only compose itself reads:
    # it is checked through `docker compose config` below.
    result = run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(REPO / "docker-compose.yml"),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_config_resolves_with_every_profile(tool: Callable[[str], str]) -> None:
    compose = tool("docker-compose")
    files = ["-f", "docker-compose.yml", "-f", "tests/deploy/compose.host-network.yml"]
    for extra in ([], files):
        args = [
            compose,
            "--project-directory",
            str(REPO),
            *(extra or ["-f", "docker-compose.yml"]),
            "--profile",
            "observability",
            "--profile",
            "demo",
            "config",
            "--quiet",
        ]
        result = run(["env", "API_TOKEN=compose-config-check", *args])
        assert result.returncode == 0, result.stdout + result.stderr


def test_compose_refuses_to_start_without_a_token(tool: Callable[[str], str]) -> None:
    args = [
        tool("docker-compose"),
        "--project-directory",
        str(REPO),
        "-f",
        "docker-compose.yml",
        "config",
        "--quiet",
    ]
    if (REPO / ".env").exists():
        pytest.skip("a local .env may set API_TOKEN")
    result = run(["env", "-u", "API_TOKEN", *args])
    assert "required variable API_TOKEN is missing a value: set API_TOKEN in .env" in result.stderr
