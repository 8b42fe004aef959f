"""The run command: `python -m service` refuses bad config, runs its own Redis, exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH, TOKEN, message
from tests.support.polling import wait_until
from tests.support.redis_server import free_port


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any service setting, plus `extra`."""
    names = ("API_", "REDIS_", "DELIVERY_", "WEBHOOK_", "OTEL_", "LOG_", "DATA_DIR", "METRICS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    return {**env, **extra}


def start(cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("service did not become healthy")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_refuses_to_start_without_api_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "API_TOKEN" in result.stderr


def test_refuses_a_placeholder_token_without_printing_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=tmp_path,
        env=clean_env(API_TOKEN="your-secret-token-here"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "API_TOKEN" in result.stderr
    assert "your-secret-token-here" not in result.stderr


def test_embedded_redis_keeps_messages_and_sigterm_serves_through_the_delay_then_exits_zero(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        API_TOKEN=TOKEN,
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        SHUTDOWN_GRACE_SECONDS="2",
        SHUTDOWN_DELAY_SECONDS="3",
    )
    first = start(tmp_path, env)
    processes.append(first)
    wait_healthy(url, first)
    body = message("kept", "http://127.0.0.1:9/hook", at="2999-01-01T00:00:00Z")
    assert httpx.post(f"{url}/messages", json=body, headers=AUTH).status_code == 200
    first.send_signal(signal.SIGTERM)
    # During SHUTDOWN_DELAY_SECONDS: not ready, but still serving what load balancers send.
    assert wait_until(lambda: httpx.get(f"{url}/health").status_code == 503, timeout=2)
    late = message("late", "http://127.0.0.1:9/hook", at="2999-01-01T00:00:00Z")
    assert httpx.post(f"{url}/messages", json=late, headers=AUTH).status_code == 200
    assert first.poll() is None
    assert first.wait(timeout=30) == 0
    output = first.stdout.read().decode() if first.stdout else ""
    assert "embedded" in output
    assert TOKEN not in output
    assert (tmp_path / "data").is_dir()

    second = start(tmp_path, env)
    processes.append(second)
    wait_healthy(url, second)
    detail = httpx.get(f"{url}/messages/kept", headers=AUTH)
    assert detail.status_code == 200
    assert httpx.get(f"{url}/messages/late", headers=AUTH).status_code == 200
    assert detail.json()["scheduleTo"] == "2999-01-01T00:00:00.000Z"
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0


def test_refuses_an_otlp_protocol_it_cannot_speak(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=tmp_path,
        env=clean_env(
            API_TOKEN=TOKEN,
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Invalid configuration" in result.stderr
    assert "'http/json' is not supported" in result.stderr
