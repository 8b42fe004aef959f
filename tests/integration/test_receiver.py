"""The demo receiver against the real service: it prints each webhook and judges its signature.

The receiver runs as `python -m service.receiver`, as compose's demo profile runs it, in a
folder of its own (no `.env`), and the service delivers to it over 127.0.0.1.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, TOKEN
from tests.integration.test_run_command import clean_env, start, wait_healthy
from tests.support.polling import wait_until
from tests.support.redis_server import free_port

SECRET = "whsec_" + base64.b64encode(b"demo-receiver-test-key-32-bytes!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"a-key-the-service-does-not-have!").decode()


class ReceiverProcess:
    """`python -m service.receiver` on a free port, its output collected line by line."""

    def __init__(self, cwd: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "service.receiver", "--port", str(self.port), *args],
            cwd=cwd,
            env=clean_env(PYTHONUNBUFFERED="1", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 20) -> None:
        assert wait_until(lambda: text in self.output, timeout=timeout), self.output

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(timeout=10)
        self.reader.join(timeout=5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Callable[..., ReceiverProcess]]:
    started: list[ReceiverProcess] = []

    def begin(*args: str, **env: str) -> ReceiverProcess:
        receiver = ReceiverProcess(tmp_path, *args, **env)
        started.append(receiver)
        receiver.wait_for("receiver listening on")
        return receiver

    yield begin
    for receiver in started:
        receiver.stop()


def test_prints_headers_verified_signature_and_body_of_a_delivery(
    start_app: Callable[..., TestClient], receivers: Callable[..., ReceiverProcess]
) -> None:
    receiver = receivers(WEBHOOK_SIGNING_SECRET=SECRET)
    api = start_app(webhook_signing_secret=SECRET)
    body = {
        "id": "hello-1",
        "delay": 0.2,
        "payload": {"hello": "world"},
        "webhookUrl": receiver.url,
    }
    assert api.post("/messages", json=body, headers=AUTH).status_code == 200

    receiver.wait_for("signature: verified")
    assert "--- webhook 1: POST /hook" in receiver.output
    assert "X-Message-Id: hello-1" in receiver.output
    assert "webhook-signature: v1," in receiver.output
    assert '"hello": "world"' in receiver.output
    assert wait_until(
        lambda: api.get("/messages/hello-1", headers=AUTH).json()["state"] == "delivered"
    )


def test_refuses_a_signature_made_with_another_secret_so_the_message_is_dead_lettered(
    start_app: Callable[..., TestClient], receivers: Callable[..., ReceiverProcess]
) -> None:
    receiver = receivers(WEBHOOK_SIGNING_SECRET=OTHER_SECRET)
    api = start_app(webhook_signing_secret=SECRET)
    body = {"id": "forged", "delay": 0, "payload": {}, "webhookUrl": receiver.url}
    assert api.post("/messages", json=body, headers=AUTH).status_code == 200

    receiver.wait_for("signature: INVALID: no signature matches WEBHOOK_SIGNING_SECRET")
    dead = lambda: api.get("/dead-letters", headers=AUTH).json()["deadLetters"]  # noqa: E731
    assert wait_until(lambda: [d["messageId"] for d in dead()] == ["forged"])
    assert "401" in dead()[0]["lastError"]


def test_an_unsigned_request_is_refused_when_a_secret_is_set(
    receivers: Callable[..., ReceiverProcess],
) -> None:
    receiver = receivers(WEBHOOK_SIGNING_SECRET=SECRET)
    answer = httpx.post(receiver.url, json={"not": "signed"})
    assert answer.status_code == 401
    receiver.wait_for("signature: INVALID: no webhook-id")


def test_without_a_secret_it_accepts_and_says_it_did_not_check(
    receivers: Callable[..., ReceiverProcess],
) -> None:
    receiver = receivers()
    assert httpx.post(receiver.url, content=b"plain text").status_code == 200
    receiver.wait_for("signature: not checked")
    receiver.wait_for("    plain text")


@pytest.mark.slow
def test_schedules_its_own_first_message_through_a_running_service(
    tmp_path: Path,
    redis_url: str,
    receivers: Callable[..., ReceiverProcess],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    service_env = clean_env(
        API_TOKEN=TOKEN,
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        REDIS_URL=redis_url,
        WEBHOOK_SIGNING_SECRET=SECRET,
        SHUTDOWN_DELAY_SECONDS="0",
    )
    service = start(tmp_path, service_env)
    processes.append(service)
    wait_healthy(api_url, service)

    started = time.monotonic()
    receiver = receivers(
        "--schedule-via", api_url, "--delay", "1", API_TOKEN=TOKEN, WEBHOOK_SIGNING_SECRET=SECRET
    )
    receiver.wait_for("-> 200")
    receiver.wait_for("signature: verified")
    assert time.monotonic() - started >= 1, "delivered at the delay, not before"
    assert '"from": "the demo receiver"' in receiver.output


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
