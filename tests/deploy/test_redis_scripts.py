"""The bundled Redis's start script and probe, run for real against local servers.

Chart, k8s/ and compose run the same two scripts (charts/scheduler-api/files/; the packaging
contract test holds their copies equal). Here they run under `sh` as a pod would run them, with
the server binary and port of this machine: the probe's `-p 6379` becomes the test server's port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.deploytools import CHART
from tests.support.loading import pad_and_rewrite, raw_ping, restart_loading
from tests.support.redis_server import RedisServer, server_binary
from tests.support.spawn import HOST, free_port

START = (CHART / "files" / "redis-start.sh").read_text()
PROBE = (CHART / "files" / "redis-probe.sh").read_text()
PASSWORD = 'p4ss "quoted" \\ back$lash'

needs_cli = pytest.mark.skipif(
    not (shutil.which("valkey-cli") or shutil.which("redis-cli")),
    reason="no valkey-cli or redis-cli on PATH (apt-get install redis-tools)",
)


def probe(
    port: int, mode: str, password_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the probe as the kubelet would (`sh -c SCRIPT redis-probe MODE`)."""
    assert PROBE.count("-p 6379") == 1
    script = PROBE.replace("-p 6379", f"-p {port}")
    env = {"PATH": os.environ["PATH"]}
    if password_file is not None:
        env["REDIS_PASSWORD_FILE"] = str(password_file)
    return subprocess.run(
        ["sh", "-c", script, "redis-probe", mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def secret_file(folder: Path, value: str) -> Path:
    path = folder / "password"
    path.write_text(value)
    return path


# -- the start script ----------------------------------------------------------------------


@pytest.fixture
def fake_server(tmp_path: Path) -> Path:
    """A `valkey-server` that records its arguments and the config file it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "valkey-server"
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD/argv"\ncat "$1" > "$RECORD/conf"\n'
        'stat -c %a "$1" > "$RECORD/mode"\n'
    )
    fake.chmod(0o755)
    return bin_dir


def start_script(
    tmp_path: Path, bin_dir: Path, *args: str, password_file: Path | None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "RECORD": str(tmp_path),
    }
    if password_file is not None:
        env["REDIS_PASSWORD_FILE"] = str(password_file)
    return subprocess.run(
        ["sh", "-c", START, "redis-start", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_the_password_goes_to_a_private_config_file_never_to_the_arguments(
    tmp_path: Path, fake_server: Path
) -> None:
    done = start_script(
        tmp_path, fake_server, "--port", "6379", password_file=secret_file(tmp_path, PASSWORD)
    )
    assert done.returncode == 0, done.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv == [str(tmp_path / "redis-auth.conf"), "--port", "6379"]
    assert "p4ss" not in "".join(argv)
    assert (tmp_path / "conf").read_text() == 'requirepass "p4ss \\"quoted\\" \\\\ back$lash"\n'
    assert (tmp_path / "mode").read_text().strip() == "600"


def test_an_empty_password_means_none_and_a_missing_file_stops_the_start(
    tmp_path: Path, fake_server: Path
) -> None:
    done = start_script(tmp_path, fake_server, password_file=secret_file(tmp_path, ""))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "conf").read_text() == ""
    (tmp_path / "argv").unlink()
    missing = start_script(tmp_path, fake_server, password_file=tmp_path / "absent")
    assert missing.returncode != 0
    assert not (tmp_path / "argv").exists(), "the server must not start without its password"


@needs_cli
def test_a_server_started_by_the_script_requires_the_password(tmp_path: Path) -> None:
    port = free_port()
    password_file = secret_file(tmp_path, PASSWORD)
    env = {**os.environ, "TMPDIR": str(tmp_path), "REDIS_PASSWORD_FILE": str(password_file)}
    # The script finds valkey-server or redis-server on PATH; here, the one the tests use.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "valkey-server").symlink_to(server_binary())
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    args = ["--bind", HOST, "--port", str(port), "--dir", str(tmp_path), "--save", ""]
    process = subprocess.Popen(
        ["sh", "-c", START, "redis-start", *args], env=env, stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(500):
            if raw_ping(port):
                break
            process.poll()
            assert process.returncode is None, "the server exited"
            time.sleep(0.01)
        assert raw_ping(port).startswith(b"-NOAUTH")
        with redis.Redis(host=HOST, port=port, password=PASSWORD) as client:
            assert client.ping()
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert b"p4ss" not in cmdline
        assert probe(port, "ready", password_file).returncode == 0
        assert probe(port, "ready", secret_file(tmp_path, "wrong")).returncode == 1
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the probe -----------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@needs_cli
def test_both_probes_pass_on_pong(server: RedisServer) -> None:
    assert probe(server.port, "ready").returncode == 0
    assert probe(server.port, "alive").returncode == 0


@needs_cli
def test_both_probes_fail_when_nothing_answers() -> None:
    port = free_port()
    for mode in ("ready", "alive"):
        done = probe(port, mode)
        assert done.returncode == 1
        assert "connect" in done.stdout.lower(), done.stdout


@needs_cli
@pytest.mark.slow
def test_while_the_append_only_file_loads_it_is_alive_but_not_ready(server: RedisServer) -> None:
    pad_and_rewrite(server)
    restart_loading(server)
    ready, alive = probe(server.port, "ready"), probe(server.port, "alive")
    assert raw_ping(server.port).startswith(b"-LOADING"), "the load ended before the probes ran"
    assert ready.returncode == 1 and ready.stdout.startswith("LOADING"), ready.stdout
    assert alive.returncode == 0, alive.stdout
    server.wait_ready(timeout=60)
    assert probe(server.port, "ready").returncode == 0


def test_the_scripts_are_posix_shell() -> None:
    # The image's /bin/sh is dash (Debian) or busybox (Alpine): nothing bash-only.
    for script in (START, PROBE):
        done = subprocess.run(
            ["sh", "-n"], input=script, text=True, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "[[" not in script and "$'" not in script
