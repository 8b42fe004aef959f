"""The packaging agrees with the service: probe paths, ports, variable names, secrets, command."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploytools import CHART, CI_VALUES, REPO, kustomize, of_kind, pod_specs

Render = Callable[..., list[dict[str, Any]]]
SECRET_ENV = {"API_TOKEN", "WEBHOOK_SIGNING_SECRET", "REDIS_PASSWORD", "REDIS_URL", "METRICS_TOKEN"}


def settings_fields() -> set[str]:
    from service.config import Settings

    return {name.upper() for name in Settings.model_fields}


def is_service_setting(name: str) -> bool:
    return name in settings_fields() or name.startswith("OTEL_")


def served_paths() -> set[str]:
    """GET paths the app serves: from create_app when it imports, else from the route decorators."""
    try:
        from service.app import create_app
        from service.config import Settings
    except ImportError:
        source = "\n".join(p.read_text() for p in (REPO / "service").glob("*.py"))
        return set(re.findall(r"\.get\(\s*\"(/[^\"]*)\"", source))
    app = create_app(Settings(api_token="x" * 16, redis_host="127.0.0.1"))  # type: ignore[call-arg]
    return set(app.openapi()["paths"]) | {
        getattr(route, "path", "") for route in app.routes if getattr(route, "path", None)
    }


@pytest.fixture(scope="module")
def scenarios(render: Render, tool: Callable[[str], str]) -> dict[str, list[dict[str, Any]]]:
    """Every chart scenario and the kustomize builds, by name."""
    docs = {f"chart:{path.name}": render(path) for path in CI_VALUES}
    kubectl = tool("kubectl")
    for folder in ("base", "overlays/production"):
        docs[f"k8s:{folder}"] = kustomize(kubectl, REPO / "k8s" / folder)
    return docs


def containers(docs: list[dict[str, Any]], name: str = "api") -> Iterator[dict[str, Any]]:
    for spec in pod_specs(docs):
        yield from (c for c in spec["containers"] if c["name"] == name)


def test_probe_paths_are_served_by_the_app(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    paths = served_paths()
    for name, docs in scenarios.items():
        for container in containers(docs):
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = container[probe]["httpGet"]["path"]
                assert path in paths, f"{name}: {probe} {path} is not a route of the app"


def test_readiness_checks_health_and_liveness_checks_the_process(
    scenarios: dict[str, list[dict[str, Any]]],
) -> None:
    for docs in scenarios.values():
        for container in containers(docs):
            assert container["readinessProbe"]["httpGet"]["path"] == "/health"
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez"


def env_of(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The container's variables: its env entries plus the ConfigMaps it loads."""
    env: dict[str, Any] = {
        e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])
    }
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        config = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == name)
        env.update(config["data"])
    return env


def test_container_port_is_api_port_and_probes_use_it(
    scenarios: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in scenarios.items():
        for container in containers(docs):
            port = container["ports"][0]
            assert str(port["containerPort"]) == env_of(container, docs)["API_PORT"], name
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] in (
                    port["name"],
                    port["containerPort"],
                ), name


def test_services_target_the_api_port(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in scenarios.items():
        api = next(
            d for d in of_kind(docs, "Service") if d["metadata"]["name"].endswith("scheduler-api")
        )
        assert api["spec"]["ports"][0]["targetPort"] == "http", name


def test_every_variable_set_is_a_service_setting(
    scenarios: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in scenarios.items():
        for container in containers(docs):
            unknown = [var for var in env_of(container, docs) if not is_service_setting(var)]
            assert not unknown, f"{name}: not settings of the service: {unknown}"


def test_chart_config_schema_names_only_service_settings() -> None:
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    names = schema["properties"]["config"]["properties"]
    assert all(is_service_setting(n) for n in names), [
        n for n in names if not is_service_setting(n)
    ]
    assert not set(names) & SECRET_ENV, "secrets belong in the Secret, not the ConfigMap"


def test_secrets_never_travel_in_a_configmap(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in scenarios.items():
        for config in of_kind(docs, "ConfigMap"):
            assert not SECRET_ENV & set(config.get("data", {})), name


def test_every_required_secret_key_exists(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    external = {
        "scheduler-api-secrets",
        "scheduler-api-redis",
    }  # created by the operator (ha values)
    for name, docs in scenarios.items():
        if name == "k8s:overlays/production":
            continue  # its Secret is created outside the overlay, as the deploy guide says
        secrets = {
            d["metadata"]["name"]: set(d.get("data", {})) | set(d.get("stringData", {}))
            for d in of_kind(docs, "Secret")
        }
        for spec in pod_specs(docs):
            for container in spec["containers"]:
                for entry in container.get("env", []):
                    ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                    if not ref or ref.get("optional") or ref["name"] in external:
                        continue
                    assert ref["key"] in secrets.get(ref["name"], set()), (
                        f"{name}: {entry['name']} -> {ref}"
                    )


def test_secret_settings_come_from_secrets(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in scenarios.items():
        for container in containers(docs):
            for entry in container.get("env", []):
                if entry["name"] in SECRET_ENV:
                    assert "secretKeyRef" in entry.get("valueFrom", {}), f"{name}: {entry['name']}"


def test_the_image_command_starts_the_service(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r'^CMD \["python", "-m", "service"\]$', dockerfile, re.M)
    assert (REPO / "service" / "__main__.py").is_file()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["scheduler-api"] == "service.__main__:main"
    for name, docs in scenarios.items():
        for container in containers(docs):
            assert container["command"] == ["python", "-m", "service"], name


def test_the_image_runs_as_the_uid_the_manifests_expect() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    assert re.search(r"^EXPOSE 8000$", dockerfile, re.M)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == 10001
    assert values["containerPort"] == 8000 == settings_default("api_port")


def settings_default(field: str) -> Any:
    from service.config import Settings

    return Settings.model_fields[field].default


def shutdown_seconds(env: dict[str, Any]) -> float:
    """Unready-but-serving delay plus drain grace: how long the service takes to stop."""
    return sum(
        float(env.get(name.upper(), settings_default(name)))
        for name in ("shutdown_delay_seconds", "shutdown_grace_seconds")
    )


def test_the_pod_outlives_the_delay_and_the_drain(
    scenarios: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in scenarios.items():
        for spec in pod_specs(docs):
            api = [c for c in spec["containers"] if c["name"] == "api"]
            if not api:
                continue
            needed = shutdown_seconds(env_of(api[0], docs))
            assert spec["terminationGracePeriodSeconds"] > needed + 5, name


def test_the_shutdown_delay_is_set_explicitly(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    # Spelled out where an operator reads the settings, next to the grace it adds to.
    for name in ("chart:default-values.yaml", "k8s:base"):
        for container in containers(scenarios[name]):
            assert "SHUTDOWN_DELAY_SECONDS" in env_of(container, scenarios[name]), name
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["config"]["SHUTDOWN_DELAY_SECONDS"] == settings_default("shutdown_delay_seconds")
    pod_termination = "kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination"
    for path in ("charts/scheduler-api/values.yaml", "k8s/base/kustomization.yaml"):
        assert pod_termination in (REPO / path).read_text(), path


def test_compose_stops_the_app_after_its_delay_and_drain() -> None:
    app = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["app"]
    env = {
        key: re.sub(r"^\$\{\w+:-([^}]*)\}$", r"\1", str(value))
        for key, value in app["environment"].items()
    }
    assert "SHUTDOWN_DELAY_SECONDS" in env
    stop_grace = re.fullmatch(r"(\d+)s", app["stop_grace_period"])
    assert stop_grace is not None
    assert int(stop_grace.group(1)) > shutdown_seconds(env) + 5


def test_compose_speaks_the_service_names() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    app = compose["services"]["app"]
    assert all(is_service_setting(var) for var in app["environment"]), app["environment"]
    assert "/health" in " ".join(app["healthcheck"]["test"])
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "--appendonly" in compose["services"]["redis"]["command"]


def test_prometheus_in_compose_scrapes_the_app_and_loads_the_chart_rules() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert "app:8000" in targets
    mounts = dict(
        volume.split(":")[:2] for volume in prometheus["volumes"] if volume.startswith("./")
    )
    assert mounts["./charts/scheduler-api/files/prometheus-rules.yaml"] in config["rule_files"]
    assert Path(REPO / "charts/scheduler-api/files/prometheus-rules.yaml").is_file()
