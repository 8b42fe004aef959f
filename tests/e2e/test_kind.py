"""End to end on a kind cluster: install the chart with 3 replicas and watch webhooks arrive.

Needs docker, kind, kubectl and helm on PATH (or in .tools/bin) and a registry for kind's node
image and the Redis image. Where any of them is missing the test skips and prints why; see
tests/e2e/README.md for how to run it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER = os.environ.get("E2E_CLUSTER", "scheduler-e2e")
NAMESPACE = "scheduler-e2e"
RELEASE = "scheduler-api"
IMAGE = "scheduler-api:e2e"


def chart_redis_image() -> str:
    """The store's image as the chart pins it: the one place the packaging takes it from."""
    import yaml

    image = yaml.safe_load((REPO / "charts/scheduler-api/values.yaml").read_text())["redis"][
        "image"
    ]
    return f"{image['repository']}:{image['tag']}"


REDIS_IMAGE = chart_redis_image()
TOKEN = "e2e-token-" + uuid.uuid4().hex
API_PORT, RECEIVER_PORT = 8290, 8291
BURST = 40

pytestmark = pytest.mark.slow

# A webhook receiver that remembers every delivery; GET /received lists them.
RECEIVER = """
import json, http.server
seen = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        seen.append(json.loads(body or b"null"))
        self.send_response(200); self.end_headers()
    def do_GET(self):
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""


def tool(name: str) -> str | None:
    local = REPO / ".tools" / "bin" / name
    return str(local) if local.is_file() else shutil.which(name)


def sh(*args: str, timeout: float = 300, check: bool = True, stdin: str | None = None) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, input=stdin, cwd=REPO, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def missing_prerequisite() -> str | None:
    for name in ("docker", "kind", "kubectl", "helm"):
        if tool(name) is None:
            return f"{name} is not installed (kind also needs a registry for its node image)"
    if (
        subprocess.run(
            [tool("docker") or "docker", "info"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        return "no Docker daemon answers"
    return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    reason = missing_prerequisite()
    if reason:
        print(f"SKIP kind e2e: {reason}")
        pytest.skip(reason)
    kind, docker = tool("kind"), tool("docker")
    assert kind and docker
    sh(kind, "create", "cluster", "--name", CLUSTER, "--wait", "180s", timeout=400)
    try:
        sh(docker, "build", "-t", IMAGE, ".", timeout=600)
        sh(docker, "pull", REDIS_IMAGE)
        for image in (IMAGE, REDIS_IMAGE):
            sh(kind, "load", "docker-image", image, "--name", CLUSTER)
        yield
    finally:
        sh(kind, "delete", "cluster", "--name", CLUSTER, check=False)


def kubectl(*args: str, **kwargs: object) -> str:
    return sh(
        tool("kubectl") or "kubectl",
        "--context",
        f"kind-{CLUSTER}",
        "-n",
        NAMESPACE,
        *args,
        **kwargs,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def installed(cluster: None) -> Iterator[None]:
    helm = tool("helm") or "helm"
    sh(
        helm,
        "install",
        RELEASE,
        "charts/scheduler-api",
        "--kube-context",
        f"kind-{CLUSTER}",
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--set",
        "replicaCount=3",
        "--set",
        "image.tag=e2e",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        f"auth.apiToken={TOKEN}",
        "--set",
        "config.LOG_LEVEL=DEBUG",
    )
    kubectl("rollout", "status", f"deployment/{RELEASE}", "--timeout=180s")
    kubectl(
        "create",
        "deployment",
        "receiver",
        f"--image={IMAGE}",
        "--port=8080",
        "--",
        "python",
        "-c",
        RECEIVER,
    )
    kubectl("expose", "deployment", "receiver", "--port=8080")
    kubectl("rollout", "status", "deployment/receiver", "--timeout=120s")
    yield


@pytest.fixture(scope="module")
def forwards(installed: None) -> Iterator[None]:
    processes = [
        subprocess.Popen(
            [
                tool("kubectl") or "kubectl",
                "--context",
                f"kind-{CLUSTER}",
                "-n",
                NAMESPACE,
                "port-forward",
                "--address",
                "127.0.0.1",
                target,
                f"{port}:{remote}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for target, port, remote in (
            (f"service/{RELEASE}", API_PORT, 8000),
            ("service/receiver", RECEIVER_PORT, 8080),
        )
    ]
    for port in (API_PORT, RECEIVER_PORT):
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline, f"port-forward to {port} never opened"
            time.sleep(0.3)
    yield
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def call(method: str, path: str, body: object = None, port: int = API_PORT) -> object:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
    )
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw.decode()


def schedule(message_id: str, seconds: float) -> None:
    due = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    call(
        "POST",
        "/messages",
        {
            "id": message_id,
            "scheduleTo": due,
            "payload": {"id": message_id},
            "webhookUrl": f"http://receiver.{NAMESPACE}.svc:8080/hook",
        },
    )


def received() -> list[str]:
    return [item["id"] for item in call("GET", "/received", port=RECEIVER_PORT)]  # type: ignore[union-attr]


def wait_for(predicate: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_helm_test_passes(installed: None) -> None:
    sh(
        tool("helm") or "helm",
        "test",
        RELEASE,
        "--kube-context",
        f"kind-{CLUSTER}",
        "--namespace",
        NAMESPACE,
        "--logs",
        timeout=300,
    )


def test_a_scheduled_webhook_arrives_once(forwards: None) -> None:
    schedule("e2e-once", 3)
    wait_for(lambda: "e2e-once" in received(), 30)
    time.sleep(5)  # a duplicate, if any, would land in this window
    assert received().count("e2e-once") == 1


def lease_holder() -> str:
    pods = kubectl(
        "get", "pods", "-l", "app.kubernetes.io/name=scheduler-api", "-o", "name"
    ).split()
    for pod in pods:
        health = kubectl(
            "exec",
            pod,
            "--",
            "python",
            "-c",
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8000/health').read().decode())",
            check=False,
        )
        if '"leader":true' in health.replace(" ", ""):
            return pod
    raise AssertionError("no pod holds the lease")


def test_nothing_is_lost_when_the_lease_holder_dies_during_a_burst(forwards: None) -> None:
    ids = [f"e2e-burst-{n}" for n in range(BURST)]
    for n, message_id in enumerate(ids):
        schedule(message_id, 4 + n % 5)
    kubectl("delete", lease_holder(), "--wait=false")
    wait_for(lambda: set(ids) <= set(received()), 120)
    wait_for(lambda: call("GET", "/messages")["count"] == 0, 60)  # type: ignore[index]


def test_metrics_are_exported(forwards: None) -> None:
    text = str(call("GET", "/metrics"))
    for name in (
        "scheduler_api_messages_scheduled_total",
        "scheduler_api_deliveries_total",
        "scheduler_api_leader",
    ):
        assert name in text
