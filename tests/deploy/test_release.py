"""The release pipeline: workflows that actionlint accepts, and the chart they publish.

The workflows themselves only run on GitHub; what can run here does: actionlint (with
shellcheck on every `run:` step), the chart packaging script against a copy of the chart, and
the facts the release depends on (platforms, attestations, signing, names from the repository
the workflow runs in).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploytools import CHART, REPO, run

WORKFLOWS = REPO / ".github" / "workflows"
RELEASE_CHART = REPO / "scripts" / "release-chart.sh"
IMAGE = "ghcr.io/some-fork/scheduler-api"


def workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def steps(flow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_actionlint_passes_on_every_workflow(tool: Callable[[str], str]) -> None:
    tool("shellcheck")  # actionlint checks `run:` scripts with it when it is on PATH
    result = run([tool("actionlint"), "-color=false"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_make_test_on_pushes_and_pull_requests() -> None:
    flow = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(flow[True])  # YAML 1.1 reads `on` as True
    assert any(step.get("run") == "make test" for step in steps(flow))


def test_every_action_is_pinned_to_a_commit() -> None:
    for name in ("ci.yml", "release.yml"):
        for step in steps(workflow(name)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_release_runs_on_version_tags_only_with_least_privilege() -> None:
    flow = workflow("release.yml")
    assert list(flow[True]) == ["push"] and list(flow[True]["push"]) == ["tags"]
    assert flow["permissions"] == {"contents": "read"}
    assert flow["jobs"]["image"]["permissions"]["id-token"] == "write"


def test_release_builds_both_platforms_with_sbom_provenance_and_a_signature() -> None:
    flow = workflow("release.yml")
    build = next(s for s in steps(flow) if s.get("id") == "build")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    meta = next(s for s in steps(flow) if s.get("id") == "meta")
    assert "org.opencontainers.image.licenses=MIT" in meta["with"]["labels"]
    scripts = "\n".join(s.get("run", "") for s in steps(flow))
    assert 'cosign sign --yes "${IMAGE}@${DIGEST}"' in scripts
    assert 'cosign sign --yes "${CHART}@${DIGEST}"' in scripts


def test_release_names_everything_after_the_repository_it_runs_in() -> None:
    text = (WORKFLOWS / "release.yml").read_text()
    assert 'echo "image=ghcr.io/${REPOSITORY,,}"' in text
    assert "REPOSITORY: ${{ github.repository }}" in text
    assert "scripts/release-chart.sh --image" in text
    assert 'helm push "$PACKAGE" "oci://ghcr.io/${OWNER,,}/charts"' in text
    # No owner is written into the workflow: every path under ghcr.io comes from a variable.
    paths = re.findall(r"ghcr\.io/([^\s\"']+)", text)
    assert paths and all(path.startswith(("${", "<")) for path in paths), paths


def package(tool: Callable[[str], str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(["env", f"HELM={tool('helm')}", "bash", str(RELEASE_CHART), *args])


def packed(archive: Path, name: str) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"scheduler-api/{name}")
        assert member is not None
        return member.read().decode()


def test_the_packaged_chart_defaults_to_the_released_image(
    tool: Callable[[str], str], tmp_path: Path
) -> None:
    chart = tmp_path / "scheduler-api"
    shutil.copytree(CHART, chart)
    values_before = (chart / "values.yaml").read_text()
    out = tmp_path / "dist"

    result = package(
        tool, "--image", IMAGE, "--version", "1.4.0", "--chart", str(chart), "--out", str(out)
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out / "scheduler-api-1.4.0.tgz")
    assert (chart / "values.yaml").read_text() == values_before, "the source chart is untouched"
    meta = yaml.safe_load(packed(out / "scheduler-api-1.4.0.tgz", "Chart.yaml"))
    packed_text = packed(out / "scheduler-api-1.4.0.tgz", "values.yaml")
    values = yaml.safe_load(packed_text)
    assert (meta["version"], meta["appVersion"]) == ("1.4.0", "1.4.0")
    assert values["image"]["repository"] == IMAGE
    assert values["redis"]["image"]["repository"] != IMAGE, "only the API image changes"
    assert packed_text.count("# --") == values_before.count("# --"), "comments are kept"


def test_the_packaged_chart_still_takes_an_image_override(
    tool: Callable[[str], str], tmp_path: Path
) -> None:
    result = package(tool, "--image", IMAGE, "--version", "1.4.0", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rendered = run(
        [
            tool("helm"),
            "template",
            "r",
            str(tmp_path / "scheduler-api-1.4.0.tgz"),
            "--set",
            "image.repository=registry.example/mine",
            "--set",
            "image.tag=dev",
        ]
    )
    assert rendered.returncode == 0, rendered.stderr
    assert 'image: "registry.example/mine:dev"' in rendered.stdout


def test_the_packaged_chart_links_its_alerts_to_the_runbooks_of_its_release(
    tool: Callable[[str], str], tmp_path: Path
) -> None:
    runbooks = "https://github.com/some-fork/scheduler-api/blob/v1.4.0/docs/observability.md"
    result = package(
        tool,
        "--image",
        IMAGE,
        "--version",
        "1.4.0",
        "--runbook-url",
        runbooks,
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    values_text = packed(tmp_path / "scheduler-api-1.4.0.tgz", "values.yaml")
    values = yaml.safe_load(values_text)
    assert values["metrics"]["prometheusRule"]["runbookBaseUrl"] == runbooks
    assert values["image"]["repository"] == IMAGE
    flow = (WORKFLOWS / "release.yml").read_text()
    assert '--runbook-url "$RUNBOOKS"' in flow
    expected = "${{ github.server_url }}/${{ github.repository }}/blob/${{ github.ref_name }}/docs/"
    assert f"RUNBOOKS: {expected}observability.md" in flow


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--image", "ghcr.io/Some-Fork/scheduler-api", "--version", "1.0.0"], "lowercase"),
        (
            ["--image", IMAGE, "--version", "1.0.0", "--runbook-url", "docs/observability.md"],
            "--runbook-url must be an http(s) URL",
        ),
        (["--image", f"{IMAGE}:1.0.0", "--version", "1.0.0"], "without a tag"),
        (["--image", IMAGE, "--version", "v1.0.0"], "semantic"),
        (["--image", IMAGE], "usage"),
    ],
)
def test_refuses_what_would_publish_a_broken_chart(
    tool: Callable[[str], str], tmp_path: Path, args: list[str], complaint: str
) -> None:
    result = package(tool, *args, "--out", str(tmp_path))
    assert result.returncode != 0
    assert complaint in result.stderr
    assert not list(tmp_path.iterdir())


def test_every_shell_script_passes_shellcheck(tool: Callable[[str], str]) -> None:
    scripts = sorted(str(path) for path in (REPO / "scripts").glob("*.sh"))
    result = run([tool("shellcheck"), *scripts])
    assert result.returncode == 0, result.stdout + result.stderr
