"""Property-based API testing from our own OpenAPI document: no input gives a 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from tests.conftest import TOKEN
from tests.support.live import serve


@pytest.fixture
def live_url(make_settings: Any) -> Iterator[str]:
    with serve(create_app(make_settings())) as url:
        yield url


# Enough cases per operation to reach the edges of date-times (offsets at the ends of
# the calendar), plus the stateful phase that follows the OpenAPI links from a POST to
# GET and DELETE of the message it created.
MAX_EXAMPLES = 300


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(live_url: str) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{live_url}/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--request-timeout",
        "10",
        "--seed",
        "1",
        "--generation-database",
        "none",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Stateful" in result.stdout
