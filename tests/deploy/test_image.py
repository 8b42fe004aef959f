"""The container image, for real: build, run read-only against Redis, compose up and down.

No container registry is reachable where this suite runs, so no base image can be pulled. The test
builds a stand-in for python:3.11-slim-bookworm from Debian packages with debootstrap (python3,
python3-venv, ca-certificates and the host's CA certificates, so that pip inside the build trusts
the same TLS proxy the host does), imports it, and passes it as the Dockerfile's BASE_IMAGE. The
root filesystem is cached under .tools/cache, so only the first run pays for debootstrap.

When no Docker daemon answers, the test installs Debian's docker.io and debootstrap and starts its
own dockerd without a bridge network (state in a temporary folder, stopped afterwards). Every
container therefore uses host networking and binds 127.0.0.1: API 8281 and Redis 6581 for the
`docker run` check, API 8282 and Redis 6582 for compose. If Docker cannot run, the test skips
and says why.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deploytools import REPO, find_tool

pytestmark = pytest.mark.slow

BASE_IMAGE = "local/python:3.11-bookworm"
APP_IMAGE = "scheduler-api:test"
REDIS_IMAGE = "local/redis:test"
TOKEN = "image-test-token-0123456789"
REDIS_PASSWORD = "image-test-redis-password"
ROOTFS_CACHE = REPO / ".tools" / "cache" / "bookworm-python3-rootfs.tar"
REDIS_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown 999:999 /data
"""
# Stands in for the pinned store image: compose runs it as the official image's uid 999, with
# /data owned by that user, as that image has it.


class Docker:
    """A docker CLI bound to one daemon."""

    def __init__(self, env: dict[str, str]) -> None:
        # Debian's client builds with BuildKit; any other client falls back to the legacy builder.
        self.cli = (
            "/usr/bin/docker"
            if os.access("/usr/bin/docker", os.X_OK)
            else shutil.which("docker") or "docker"
        )
        self.env = {**env, "DOCKER_BUILDKIT": "1", "COMPOSE_BAKE": "false"}

    def __call__(
        self, *args: str, stdin: str | bytes | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run([self.cli, *args], stdin=stdin, timeout=timeout, check=check)

    def run(
        self,
        args: list[str],
        *,
        stdin: str | bytes | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=self.env,
            cwd=REPO,
            check=False,
            text=not isinstance(stdin, bytes),
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def answers(self) -> bool:
        return self("info", timeout=20, check=False).returncode == 0

    def has_image(self, name: str) -> bool:
        return self("image", "inspect", name, check=False).returncode == 0


def apt_install(*packages: str) -> str | None:
    """Install Debian packages; return why not, or None on success."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "installing Docker needs root and apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    try:
        if subprocess.run(install, capture_output=True, env=env, timeout=180).returncode == 0:
            return None
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=120)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=180)
    except subprocess.TimeoutExpired:
        return f"apt-get install {' '.join(packages)} timed out"
    return None if result.returncode == 0 else f"apt-get install failed: {result.stderr[-300:]}"


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    existing = Docker(dict(os.environ))
    if shutil.which("docker") and existing.answers():
        yield existing
        return
    if not shutil.which("dockerd"):
        reason = apt_install("docker.io")
        if reason:
            pytest.skip(f"no Docker daemon and none can be installed: {reason}")
    state = Path(tempfile.mkdtemp(prefix="scheduler-docker-"))  # outside every build context
    socket = state / "docker.sock"
    log = (state / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--data-root",
            str(state / "data"),
            "--exec-root",
            str(state / "exec"),
            "--pidfile",
            str(state / "dockerd.pid"),
            "-H",
            f"unix://{socket}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    own = Docker({**os.environ, "DOCKER_HOST": f"unix://{socket}"})
    try:
        deadline = time.monotonic() + 30
        while not own.answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = (state / "dockerd.log").read_text()[-500:]
                pytest.skip(f"dockerd cannot run on this machine: {tail}")
            time.sleep(0.3)
        yield own
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        # dockerd leaves its network namespace mounted behind it.
        subprocess.run(
            ["umount", str(state / "exec" / "netns" / "default")], capture_output=True, check=False
        )
        shutil.rmtree(state, ignore_errors=True)


def debian_mirror() -> str:
    """The Debian mirror apt uses here (it may be the only one reachable), else the default."""
    mirror = "http://deb.debian.org/debian"
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if not sources.is_file():
        return mirror
    uris = (
        line.split()[1] for line in sources.read_text().splitlines() if line.startswith("URIs:")
    )
    return next(uris, mirror)


def debian_rootfs_tar() -> Path:
    """A tarball of a minimal Debian bookworm with Python, built once and cached."""
    if ROOTFS_CACHE.is_file():
        return ROOTFS_CACHE
    if not shutil.which("debootstrap"):
        reason = apt_install("debootstrap")
        if reason:
            pytest.skip(f"cannot build a base image without a registry: {reason}")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="scheduler-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates,python3,python3-venv",
                "bookworm",
                str(rootfs),
                mirror,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy(cert, rootfs / "usr/local/share/ca-certificates" / cert.name)
        subprocess.run(
            ["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        ROOTFS_CACHE.parent.mkdir(parents=True, exist_ok=True)
        partial = ROOTFS_CACHE.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.rename(ROOTFS_CACHE)
    return ROOTFS_CACHE


@pytest.fixture(scope="module")
def images(docker: Docker) -> None:
    if not docker.has_image(BASE_IMAGE):
        docker("import", "-c", "ENV LANG=C.UTF-8", str(debian_rootfs_tar()), BASE_IMAGE)
    docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        "-t",
        APP_IMAGE,
        ".",
        timeout=300,
    )
    docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        "-t",
        REDIS_IMAGE,
        "-",
        stdin=REDIS_DOCKERFILE,
        timeout=180,
    )


def http(
    method: str, url: str, body: dict[str, object] | None = None, token: str | None = None
) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


def wait_healthy(url: str, seconds: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, body = http("GET", url)
            if status == 200:
                return body
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered 200"
        time.sleep(0.3)


def schedule_one(base: str, message_id: str) -> None:
    message = {
        "id": message_id,
        "scheduleTo": "2099-01-01T00:00:00Z",
        "payload": {"n": 1},
        "webhookUrl": "http://127.0.0.1:8299/hook",
    }
    assert http("POST", f"{base}/messages", message)[0] == 401
    status, body = http("POST", f"{base}/messages", message, token=TOKEN)
    assert (status, body.get("messageId")) == (200, message_id), body
    status, listing = http("GET", f"{base}/messages", token=TOKEN)
    assert status == 200 and message_id in json.dumps(listing["scheduledJobs"])


@pytest.fixture
def redis_container(docker: Docker, images: None) -> Iterator[None]:
    docker("rm", "-f", "scheduler-test-redis", check=False)
    docker(
        "run",
        "-d",
        "--name",
        "scheduler-test-redis",
        "--network",
        "host",
        REDIS_IMAGE,
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--port",
        "6581",
        "--save",
        "",
        "--appendonly",
        "no",
    )
    yield
    docker("rm", "-f", "scheduler-test-redis", check=False)


def test_image_runs_read_only_and_stops_cleanly(docker: Docker, redis_container: None) -> None:
    docker("rm", "-f", "scheduler-test-api", check=False)
    docker(
        "run",
        "-d",
        "--name",
        "scheduler-test-api",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-e",
        f"API_TOKEN={TOKEN}",
        "-e",
        "API_HOST=127.0.0.1",
        "-e",
        "API_PORT=8281",
        "-e",
        "REDIS_HOST=127.0.0.1",
        "-e",
        "REDIS_PORT=6581",
        APP_IMAGE,
    )
    try:
        base = "http://127.0.0.1:8281"
        health = wait_healthy(f"{base}/health")
        assert (health["status"], health["redis"]) == ("healthy", "connected")
        schedule_one(base, "image-test-1")
        assert (
            docker("inspect", "-f", "{{.Config.User}}", "scheduler-test-api").stdout.strip()
            == "10001:10001"
        )
        docker("stop", "-t", "30", "scheduler-test-api", timeout=60)
        assert (
            docker("inspect", "-f", "{{.State.ExitCode}}", "scheduler-test-api").stdout.strip()
            == "0"
        )
    finally:
        print(docker("logs", "scheduler-test-api", check=False).stderr[-2000:])
        docker("rm", "-f", "scheduler-test-api", check=False)


def test_compose_comes_up_healthy_and_goes_down(docker: Docker, images: None) -> None:
    compose = find_tool("docker-compose")
    if compose is None:
        pytest.skip("docker compose is not installed: run `bash scripts/install-tools.sh`")
    files = [
        "-f",
        "docker-compose.yml",
        "-f",
        "tests/deploy/compose.host-network.yml",
        "-p",
        "scheduler-api-test",
    ]
    env = {
        **docker.env,
        "API_TOKEN": TOKEN,
        "APP_IMAGE": APP_IMAGE,
        "REDIS_IMAGE": REDIS_IMAGE,
        "REDIS_PASSWORD": REDIS_PASSWORD,
    }
    compose_run = Docker(env).run
    try:
        compose_run([compose, *files, "up", "-d", "--wait", "--wait-timeout", "60"], timeout=120)
        base = "http://127.0.0.1:8282"
        assert wait_healthy(f"{base}/health")["redis"] == "connected"
        schedule_one(base, "compose-test-1")
        # The password reached Redis through the secret file, not its command line.
        cmdline = docker("exec", "scheduler-api-test-redis-1", "cat", "/proc/1/cmdline").stdout
        assert REDIS_PASSWORD not in cmdline
    finally:
        logs = compose_run([compose, *files, "logs", "--no-color"], check=False)
        print(logs.stdout[-4000:], logs.stderr[-2000:])
        down = compose_run([compose, *files, "down", "-v", "-t", "20"], timeout=60, check=False)
    assert down.returncode == 0, down.stderr
    assert not compose_run([compose, *files, "ps", "-q"], check=False).stdout.strip()


def test_compose_demo_profile_shows_a_verified_delivery(docker: Docker, images: None) -> None:
    compose = find_tool("docker-compose")
    if compose is None:
        pytest.skip("docker compose is not installed: run `bash scripts/install-tools.sh`")
    files = ["-f", "docker-compose.yml", "-f", "tests/deploy/compose.host-network.yml"]
    files += ["-p", "scheduler-api-demo-test", "--profile", "demo"]
    secret = "whsec_" + base64.b64encode(b"compose-demo-profile-test-key-32").decode()
    env = {**docker.env, "API_TOKEN": TOKEN, "APP_IMAGE": APP_IMAGE, "REDIS_IMAGE": REDIS_IMAGE}
    # As a .env from .env.example or `make demo` has it: set, and empty (no Redis password).
    env["REDIS_PASSWORD"] = ""
    compose_run = Docker({**env, "WEBHOOK_SIGNING_SECRET": secret}).run
    logs: list[str] = [""]

    def receiver_output() -> str:
        logs[0] = compose_run([compose, *files, "logs", "receiver"], check=False).stdout
        return logs[0]

    try:
        compose_run([compose, *files, "up", "-d", "--wait", "--wait-timeout", "60"], timeout=120)
        deadline = time.monotonic() + 30
        while "signature: verified" not in receiver_output() and time.monotonic() < deadline:
            time.sleep(0.5)
        print(logs[0])
        assert "POST http://127.0.0.1:8282/messages -> 200" in logs[0]
        assert "signature: verified (Standard Webhooks, v1)" in logs[0]
        assert '"from": "the demo receiver"' in logs[0]
    finally:
        every = compose_run([compose, *files, "logs", "--no-color"], check=False)
        print(every.stdout[-4000:], every.stderr[-2000:])
        down = compose_run([compose, *files, "down", "-v", "-t", "20"], timeout=60, check=False)
    assert down.returncode == 0, down.stderr
