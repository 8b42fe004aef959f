"""Commands and values the docs tell people to use are ones the service accepts.

A README command that produces a secret the service refuses crashes pods; an example
endpoint on the wrong port silently loses traces. Each test runs the documented command, or
reads the documented value, and hands the result to the code that will judge it.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from service.config import Settings
from service.signing import decode_secrets
from service.telemetry import otlp_protocol
from tests.support.deploytools import CHART, REPO, run

HEX_SECRET = "4f" * 32  # what `openssl rand -hex 32` gives: not a signing secret


def shell(expression: str) -> str:
    """What bash prints for a documented `$(...)` expression or a quoted string holding one."""
    result = subprocess.run(
        ["bash", "-c", f"printf %s {expression}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_the_chart_readme_creates_a_signing_secret_the_service_accepts() -> None:
    readme = (CHART / "README.md").read_text()
    found = re.search(r'--from-literal=webhook-signing-secret=("[^"\n]+")', readme)
    assert found, "the chart README shows how to create the signing secret"
    secret = shell(found.group(1))
    assert decode_secrets(secret), secret


def test_the_env_example_generates_a_signing_secret_the_service_accepts() -> None:
    text = (REPO / ".env.example").read_text()
    command = re.search(r"^#\s+(python -c .*whsec_.*)$", text, re.MULTILINE)
    assert command, ".env.example shows how to generate WEBHOOK_SIGNING_SECRET"
    printed = subprocess.run(
        ["bash", "-c", command.group(1).replace("python ", "python3 ", 1)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert decode_secrets(printed)


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [
        ("whsec_" + "A" * 43 + "=", True),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_" + "B" * 24, True),
        (HEX_SECRET, False),
        ("whsec_short", False),
    ],
)
def test_the_values_schema_refuses_a_signing_secret_that_would_crash_the_pods(
    tool: Callable[[str], str], secret: str, accepted: bool
) -> None:
    result = run(
        [tool("helm"), "lint", str(CHART), "--set-string", f"auth.webhookSigningSecret={secret}"]
    )
    assert (result.returncode == 0) is accepted, result.stdout + result.stderr
    try:
        decode_secrets(secret)
        service_accepts = True
    except ValueError:
        service_accepts = False
    assert service_accepts is accepted, "the schema and the service agree"


def otlp_examples() -> list[tuple[str, str, str | None]]:
    """(file, endpoint, protocol next to it) for every OTLP endpoint the chart shows."""
    found = []
    for path in [CHART / "values.yaml", *sorted((CHART / "ci").glob("*.yaml"))]:
        text = path.read_text()
        protocol = re.search(r"OTEL_EXPORTER_OTLP_PROTOCOL:\s*(\S+)", text)
        for endpoint in re.findall(r"OTEL_EXPORTER_OTLP_(?:TRACES_)?ENDPOINT:\s*(\S+)", text):
            found.append((path.name, endpoint, protocol.group(1) if protocol else None))
    return found


def test_otlp_examples_use_the_port_of_their_protocol() -> None:
    default = otlp_protocol({})  # what the service uses when no variable names one
    examples = otlp_examples()
    assert examples
    for name, endpoint, protocol in examples:
        port = {"grpc": 4317, "http/protobuf": 4318}[protocol or default]
        assert f":{port}" in endpoint, f"{name}: {endpoint} with {protocol or default}"


def test_the_readme_time_expression_is_ten_seconds_from_now() -> None:
    readme = (REPO / "README.md").read_text()
    found = re.search(r"^AT=\$\((.+)\)$", readme, re.MULTILINE)
    assert found, "the walk-through computes the time in the shell"
    before = datetime.now(UTC).replace(microsecond=0)
    at = datetime.fromisoformat(shell(f'"$({found.group(1)})"'))
    assert 9 <= (at - before).total_seconds() <= 12


def test_make_demo_writes_a_configuration_the_service_accepts(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    shutil.copy(REPO / ".env.example", tmp_path / ".env.example")
    # Docker itself is exercised by the image tests; here only what the script writes counts.
    stub = tmp_path / "bin" / "docker"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "demo.sh")],
        env={"PATH": f"{stub.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.webhook_signing_secret is not None
    assert decode_secrets(settings.webhook_signing_secret.get_secret_value())


def test_compose_demo_profile_runs_the_receiver_from_the_app_image() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    receiver = compose["services"]["receiver"]
    assert receiver["profiles"] == ["demo"]
    assert receiver["image"] == compose["services"]["app"]["image"]
    assert receiver["command"][:3] == ["python", "-m", "service.receiver"]
    assert "--schedule-via" in receiver["command"]


def test_the_repartition_section_matches_the_command() -> None:
    """docs/deploy.md, "Changing the partition count": the command line parses, and the
    defaults, the wait and the error code it states are the code's."""
    from service import store
    from service.__main__ import parse_args
    from service.partitioning import REPORT_TTL_MS

    text = (REPO / "docs" / "deploy.md").read_text()
    section = text.split("### Changing the partition count", 1)[1].split("\n## ", 1)[0]
    line = re.search(r"kubectl exec \S+ -- scheduler-api (repartition .+)", section)
    assert line, "no `kubectl exec ... -- scheduler-api repartition` example"
    args = parse_args(line.group(1).split())
    assert (args.command, args.to) == ("repartition", 16)
    assert "--set redis.partitions=16" in section  # the chart value follows the data
    defaults = parse_args(["repartition", "--to", "2"])
    prose = " ".join(section.split())
    assert f"({defaults.replica_wait:.0f} s by default, `--replica-wait`)" in prose
    assert f"batches of {defaults.batch} (`--batch`)" in prose
    assert (
        f"past {store.MOVING_WAIT_SECONDS:.0f} s, answers 503 with code `repartitioning`" in prose
    )
    assert f"drops off the list within {REPORT_TTL_MS // 1000} s" in prose


def test_the_architecture_doc_names_every_partition_key_and_every_script() -> None:
    """docs/architecture.md has a row for each key a script gets and for each script: a
    key or script added without one fails (`lease_mirror` had none until this test)."""
    from service.keys import SCRIPT_KEYS
    from service.lua import NAMES

    doc = (REPO / "docs" / "architecture.md").read_text()
    first_cells = [line.split("|")[1] for line in doc.splitlines() if line.startswith("| `")]
    named = {name for cell in first_cells for name in re.findall(r"`([a-z_]+)`", cell)}
    assert [key for key in SCRIPT_KEYS if key not in named] == []
    assert [script for script in NAMES if script not in named] == []
