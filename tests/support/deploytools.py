"""Helpers for the packaging checks: where the tools are, running them, reading manifests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "scheduler-api"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
K8S_DIRS = [REPO / "k8s" / "base", REPO / "k8s" / "overlays" / "production"]
# The tool folders scripts/install-tools.sh fills, searched before PATH.
TOOL_DIRS = [REPO / ".tools" / "bin", REPO / ".venv-tools" / "bin", REPO / ".venv-checkov" / "bin"]


def find_tool(name: str) -> str | None:
    """The path of a tool from the repository's tool folders or PATH, or None."""
    for folder in TOOL_DIRS:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def tool_env() -> dict[str, str]:
    """The environment with the tool folders first on PATH (checkov calls helm and kubectl)."""
    path = os.pathsep.join(str(folder) for folder in TOOL_DIRS)
    return {**os.environ, "PATH": f"{path}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(
    args: Iterable[str], *, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root and capture its output."""
    return subprocess.run(
        list(args),
        cwd=REPO,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=timeout,
        env=tool_env(),
        check=False,
    )


def helm_template_args(
    helm: str, values: Path | None, sets: Iterable[str], release: str = "sched"
) -> list[str]:
    args = [helm, "template", release, str(CHART), "--namespace", "scheduler"]
    if values is not None:
        args += ["-f", str(values)]
    for item in sets:
        args += ["--set", item]
    return args


def kustomize(kubectl: str, folder: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize` builds from a folder."""
    result = run([kubectl, "kustomize", str(folder)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pod spec in the documents: workloads' templates and bare pods."""
    specs = []
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            specs.append(doc["spec"]["template"]["spec"])
        elif doc["kind"] == "Pod":
            specs.append(doc["spec"])
    return specs
