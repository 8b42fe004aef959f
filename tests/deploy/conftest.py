"""Fixtures for the packaging checks: tools that skip when missing, and chart rendering."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploytools import find_tool, helm_template_args, run


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """tool("helm") gives the tool's path, or skips the test saying how to install it."""

    def get(name: str) -> str:
        path = find_tool(name)
        if path is None:
            pytest.skip(f"{name} is not installed: run `bash scripts/install-tools.sh`")
        return path

    return get


@pytest.fixture(scope="session")
def render(tool: Callable[[str], str]) -> Callable[..., list[dict[str, Any]]]:
    """render(values_file, set=[...]) runs `helm template` and returns the documents."""
    helm = tool("helm")

    def template(
        values: Path | None = None, *, set: Iterable[str] = (), release: str = "sched"
    ) -> list[dict[str, Any]]:
        result = run(helm_template_args(helm, values, set, release))
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return template
