"""A client generated from docs/openapi.json schedules and lists messages on a real service."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import NOWHERE
from tests.support.processes import TOKEN, Fleet, Replica

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
PACKAGE = "scheduler_api_client"


@pytest.fixture
def service(tmp_path: Path, redis_url: str) -> Iterator[Replica]:
    """`python -m service` on a free port, against the suite's Redis."""
    fleet = Fleet(tmp_path / "replicas", redis_url=redis_url)
    try:
        replica = fleet.add()
        replica.wait_ready()
        yield replica
    finally:
        fleet.end_all()


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """openapi-python-client's package for the committed document, imported."""
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "openapi-python-client"), "generate", "--path", str(DOCUMENT)]
    result = subprocess.run(
        [*command, "--meta", "none", "--output-path", str(tmp_path / PACKAGE)],
        capture_output=True,
        text=True,
        timeout=120,
        # It formats what it writes with ruff, which lives beside it.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output, output
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ["", ".api.messages.schedule_message", ".api.messages.list_messages"]
    names += [".api.messages.get_message", ".models"]
    try:
        yield {name: importlib.import_module(PACKAGE + name) for name in names}
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.mark.slow
def test_a_generated_client_schedules_and_lists_a_message(
    generated: dict[str, Any], service: Replica
) -> None:
    models = generated[".models"]
    body = models.ScheduleRequest(
        webhook_url=NOWHERE,
        delay="PT1H",
        payload={"contact": "c-1042"},
        labels=models.ScheduleRequestLabelsType0.from_dict({"flow": "generated"}),
    )
    with generated[""].AuthenticatedClient(base_url=service.url(), token=TOKEN) as client:
        scheduled = generated[".api.messages.schedule_message"].sync(client=client, body=body)
        assert isinstance(scheduled, models.ScheduleResponse), scheduled
        listed = generated[".api.messages.list_messages"].sync(
            client=client, label=["flow:generated"]
        )
        assert isinstance(listed, models.MessageList), listed
        assert [job.message_id for job in listed.scheduled_jobs] == [scheduled.message_id]
        assert listed.scheduled_jobs[0].labels.to_dict() == {"flow": "generated"}
        missing = generated[".api.messages.get_message"].sync(client=client, message_id="nope")
        assert isinstance(missing, models.ErrorBody)
        assert missing.code == "not_found"
