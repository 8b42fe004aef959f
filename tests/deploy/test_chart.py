"""The Helm chart: lint, strict schemas for every scenario, defaults, toggles and refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploytools import CHART, CI_VALUES, REPO, helm_template_args, of_kind, one, run

Render = Callable[..., list[dict[str, Any]]]
CI_IDS = [path.name for path in CI_VALUES]
SHUTDOWN_REFUSAL = "must exceed config.SHUTDOWN_DELAY_SECONDS (5) + config.SHUTDOWN_GRACE_SECONDS"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBE_VERSIONS = ["1.25.0", "1.35.0"]


def test_ci_scenarios_exist() -> None:
    assert {path.name for path in CI_VALUES} >= {
        "default-values.yaml",
        "ha-external-redis-values.yaml",
        "everything-on-values.yaml",
    }


def test_values_schema_is_valid_draft07(tool: Callable[[str], str]) -> None:
    result = run(
        [tool("check-jsonschema"), "--check-metaschema", str(CHART / "values.schema.json")]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_values_schema_is_self_contained() -> None:
    # A remote $ref breaks lint and template wherever there is no network.
    assert '"$ref": "http' not in (CHART / "values.schema.json").read_text()


@pytest.mark.parametrize("values", CI_VALUES, ids=CI_IDS)
def test_lint_strict_passes(tool: Callable[[str], str], values: Path) -> None:
    result = run([tool("helm"), "lint", "--strict", str(CHART), "-f", str(values)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", CI_VALUES, ids=CI_IDS)
def test_rendered_manifests_pass_strict_kubernetes_schemas(
    tool: Callable[[str], str], values: Path, kube_version: str
) -> None:
    rendered = run(helm_template_args(tool("helm"), values, ()))
    assert rendered.returncode == 0, rendered.stderr
    result = run(
        [tool("kubernetes-validate"), "--strict", "--quiet", "-k", kube_version, "-"],
        stdin=rendered.stdout,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_only_the_core_objects(render: Render) -> None:
    kinds = sorted(doc["kind"] for doc in render())
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Pod",
        "Secret",
        "Service",
        "Service",
        "Service",
        "StatefulSet",
    ]


def test_everything_on_renders_every_optional_object(render: Render) -> None:
    kinds = {doc["kind"] for doc in render(CHART / "ci" / "everything-on-values.yaml")}
    assert kinds >= {
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "ServiceAccount",
    }
    assert "StatefulSet" not in kinds, "external Redis must not start the bundled one"


def test_selectors_use_name_and_instance_only(render: Render) -> None:
    docs = render(CHART / "ci" / "everything-on-values.yaml")
    docs += render(set=["networkPolicy.enabled=true"])
    selectors: list[dict[str, str]] = []
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "Service":
            selectors.append(spec["selector"])
        elif doc["kind"] in {"Deployment", "StatefulSet", "PodDisruptionBudget"}:
            selectors.append(spec["selector"]["matchLabels"])
        elif doc["kind"] == "NetworkPolicy":
            selectors.append(spec["podSelector"]["matchLabels"])
    assert selectors
    for selector in selectors:
        assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}, selector


def test_api_and_redis_selectors_never_overlap(render: Render) -> None:
    docs = render()
    api = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    redis = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert not all(redis.get(key) == value for key, value in api.items())


def test_test_pod_is_not_selected_by_the_service(render: Render) -> None:
    docs = render()
    selector = next(
        d for d in of_kind(docs, "Service") if d["metadata"]["name"] == "sched-scheduler-api"
    )
    pod_labels = one(docs, "Pod")["metadata"]["labels"]
    assert not all(pod_labels.get(k) == v for k, v in selector["spec"]["selector"].items())


def test_deployment_rolls_without_losing_capacity(render: Render) -> None:
    deployment = one(render(), "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 35
    assert {"checksum/config", "checksum/secret"} <= set(pod["metadata"]["annotations"])
    spread = pod["spec"]["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("values", CI_VALUES, ids=CI_IDS)
def test_every_container_is_restricted(render: Render, values: Path) -> None:
    for doc in render(values):
        if doc["kind"] not in {"Deployment", "StatefulSet", "Pod"}:
            continue
        spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["capabilities"]["drop"] == ["ALL"], container["name"]


def test_api_gets_a_writable_tmp_only(render: Render) -> None:
    spec = one(render(), "Deployment")["spec"]["template"]["spec"]
    mounts = spec["containers"][0]["volumeMounts"]
    assert mounts == [{"name": "tmp", "mountPath": "/tmp"}]
    assert "emptyDir" in spec["volumes"][0]


def test_bundled_redis_keeps_an_append_only_file_on_a_claim(render: Render) -> None:
    redis = one(render(), "StatefulSet")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    # The password reaches Redis through a file made from the Secret, never as an argument.
    assert "--requirepass" not in args
    env = redis["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "REDIS_PASSWORD_FILE", "value": "/etc/redis-auth/password"}]
    claim = redis["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_a_token_is_generated_when_none_is_given(render: Render) -> None:
    import base64

    secret = one(render(), "Secret")
    token = base64.b64decode(secret["data"]["api-token"]).decode()
    assert len(token) == 40 and token.isalnum()
    assert base64.b64decode(secret["data"]["redis-password"])


def test_given_secrets_are_stored_and_referenced(render: Render) -> None:
    docs = render(CHART / "ci" / "everything-on-values.yaml")
    secret = one(docs, "Secret")
    assert set(secret["data"]) == {
        "api-token",
        "webhook-signing-secret",
        "metrics-token",
        "redis-password",
    }
    env = {
        e["name"]
        for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert {"API_TOKEN", "WEBHOOK_SIGNING_SECRET", "METRICS_TOKEN", "REDIS_PASSWORD"} <= env


def test_existing_secrets_replace_the_charts_own(render: Render) -> None:
    docs = render(CHART / "ci" / "ha-external-redis-values.yaml")
    assert not of_kind(docs, "Secret"), "nothing is left for the chart to store"
    env = {
        e["name"]: e
        for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "scheduler-api-secrets"
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "scheduler-api-redis",
        "key": "redis-url",
    }
    config = one(docs, "ConfigMap")["data"]
    assert not {"REDIS_HOST", "REDIS_PORT"} & set(config), "REDIS_URL alone names the Redis"


def test_external_redis_by_host(render: Render) -> None:
    docs = render(
        set=["redis.enabled=false", "externalRedis.host=redis.example", "externalRedis.port=6380"]
    )
    config = one(docs, "ConfigMap")["data"]
    assert (config["REDIS_HOST"], config["REDIS_PORT"], config["REDIS_DB"]) == (
        "redis.example",
        "6380",
        "0",
    )
    assert not of_kind(docs, "StatefulSet")


def test_external_redis_by_sentinel(render: Render) -> None:
    docs = render(
        set=[
            "redis.enabled=false",
            "externalRedis.sentinel.nodes={s-0.sentinel:26379,s-1.sentinel:26379}",
            "externalRedis.sentinel.master=scheduler",
            "externalRedis.existingSecret=redis-auth",
        ]
    )
    config = one(docs, "ConfigMap")["data"]
    assert config["REDIS_SENTINELS"] == "s-0.sentinel:26379,s-1.sentinel:26379"
    assert (config["REDIS_SENTINEL_MASTER"], config["REDIS_DB"]) == ("scheduler", "0")
    assert not {"REDIS_HOST", "REDIS_URL", "REDIS_CLUSTER_NODES"} & config.keys()
    env = {
        e["name"]: e
        for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "redis-auth"


def test_external_redis_cluster_over_tls_as_an_acl_user(render: Render) -> None:
    docs = render(CHART / "ci" / "cluster-external-redis-values.yaml")
    config = one(docs, "ConfigMap")["data"]
    assert config["REDIS_CLUSTER_NODES"].count(",") == 2
    assert (config["REDIS_USERNAME"], config["REDIS_TLS"]) == ("scheduler", "true")
    assert not {"REDIS_HOST", "REDIS_URL", "REDIS_SENTINELS", "REDIS_DB"} & config.keys()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert config["REDIS_TLS_CA_FILE"] == mounts["redis-tls"]["mountPath"] + "/ca.crt"
    assert mounts["redis-tls"]["readOnly"] is True
    assert volumes["redis-tls"]["secret"]["secretName"] == "redis-cluster-tls"


def test_partitions_reach_the_service_only_when_chosen(render: Render) -> None:
    assert "REDIS_PARTITIONS" not in one(render(), "ConfigMap")["data"]
    chosen = render(
        set=["redis.enabled=false", "externalRedis.cluster.nodes={c:6379}", "redis.partitions=16"]
    )
    assert one(chosen, "ConfigMap")["data"]["REDIS_PARTITIONS"] == "16"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["externalRedis.host=redis.example"], "redis.enabled and externalRedis are both set"),
        (
            ["externalRedis.cluster.nodes={c:6379}"],
            "redis.enabled and externalRedis are both set",
        ),
        (
            ["externalRedis.sentinel.nodes={s:26379}"],
            "redis.enabled and externalRedis are both set",
        ),
        (["externalRedis.tls.enabled=true"], "the bundled one has neither"),
        (
            [
                "redis.enabled=false",
                "externalRedis.sentinel.nodes={s:26379}",
                "externalRedis.cluster.nodes={c:6379}",
            ],
            "Sentinel and Redis Cluster are two different setups",
        ),
        (
            ["redis.enabled=false", "externalRedis.cluster.nodes={c:6379}", "externalRedis.host=h"],
            "give one way to reach Redis",
        ),
        (
            [
                "redis.enabled=false",
                "externalRedis.sentinel.nodes={s:26379}",
                "externalRedis.url=redis://h:6379/0",
            ],
            "give one way to reach Redis",
        ),
        (
            ["redis.enabled=false", "externalRedis.cluster.nodes={c:6379}", "externalRedis.db=2"],
            "a Redis Cluster has only database 0",
        ),
        (
            ["redis.enabled=false", "externalRedis.host=h", "externalRedis.tls.caSecret=ca"],
            "externalRedis.tls.caSecret needs externalRedis.tls.enabled=true",
        ),
        (
            ["redis.enabled=false", "externalRedis.cluster.nodes={c}"],
            "/externalRedis/cluster/nodes/0",
        ),
        (["redis.partitions=0"], "/redis/partitions"),
        (["redis.enabled=false"], "no Redis configured"),
        (
            ["redis.enabled=false", "externalRedis.host=h", "externalRedis.url=redis://h:6379/0"],
            "are both set",
        ),
        (
            ["auth.existingSecret=s", "auth.apiToken=0123456789abcdef"],
            "put the values in the existing Secret",
        ),
        (
            ["redis.enabled=false", "externalRedis.existingSecretUrlKey=url"],
            "needs externalRedis.existingSecret",
        ),
        (["terminationGracePeriodSeconds=22"], SHUTDOWN_REFUSAL),
        (["config.SHUTDOWN_GRACE_SECONDS=40"], SHUTDOWN_REFUSAL),
        # 5 + 20 + 5 = 30: the shutdown delay counts too.
        (["terminationGracePeriodSeconds=30"], SHUTDOWN_REFUSAL),
        (["config.SHUTDOWN_DELAY_SECONDS=15"], "config.SHUTDOWN_DELAY_SECONDS (15)"),
        (["config.API_TOKEN=0123456789abcdef"], "additional properties 'API_TOKEN' not allowed"),
        (["config.REDIS_HOST=elsewhere"], "additional properties 'REDIS_HOST' not allowed"),
        (
            ["config.WEBHOOK_DENY_NETWORKS=private"],
            "additional properties 'WEBHOOK_DENY_NETWORKS' not allowed",
        ),
        (["networkPolicy.egress.enabled=true"], "networkPolicy.egress.enabled needs"),
        (
            [
                "networkPolicy.enabled=true",
                "networkPolicy.egress.enabled=true",
                "networkPolicy.egress.blockedCIDRs={10.0.0.0}",
            ],
            "/networkPolicy/egress/blockedCIDRs/0",
        ),
        (
            ["redis.maxmemory=1Gi", "redis.resources.limits.memory=1Gi"],
            "redis.maxmemory (1Gi) must be below redis.resources.limits.memory (1Gi)",
        ),
        (["redis.extraArgs={--maxmemory,2gb}"], "redis.extraArgs must not set --maxmemory"),
        (["redis.extraArgs={--maxmemory-policy,allkeys-lru}"], "must not set --maxmemory-policy"),
        (["redis.resources.limits.memory=1e9"], 'cannot read "1e9" as a memory quantity'),
        (["auth.apiToken=short"], "/auth/apiToken"),
        (["replicaCount=0"], "/replicaCount"),
        (["redis.appendfsync=sometimes"], "/redis/appendfsync"),
        (
            [
                "metrics.prometheusRule.enabled=true",
                "metrics.prometheusRule.groups.rules=false",
                "metrics.prometheusRule.groups.redis=false",
                "metrics.prometheusRule.groups.housekeeping=false",
            ],
            "metrics.prometheusRule.groups.delivery reads the recorded scheduler_api:* series",
        ),
        (
            ["metrics.prometheusRule.runbookBaseUrl=wiki/runbooks"],
            "/metrics/prometheusRule/runbookBaseUrl",
        ),
        (
            ["redis.enabled=false", "externalRedis.host=h", "redis.metrics.enabled=true"],
            "redis.metrics.enabled runs redis_exporter beside the bundled Redis",
        ),
        (["redis.metrics.port=6379"], "/redis/metrics/port"),
    ],
)
def test_contradictory_or_invalid_values_are_refused(
    tool: Callable[[str], str], sets: list[str], message: str
) -> None:
    result = run(helm_template_args(tool("helm"), None, sets))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def rules_file_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(
        (CHART / "files" / "prometheus-rules.yaml").read_text()
    )["groups"]
    return groups


def group_switch(name: str) -> str:
    """The values switch of a rule group: scheduler-api.redis-exporter is redisExporter."""
    head, *rest = name.removeprefix("scheduler-api.").split("-")
    return head + "".join(word.title() for word in rest)


def rendered_groups(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {group["name"]: group for group in one(docs, "PrometheusRule")["spec"]["groups"]}


def test_prometheus_rule_carries_the_rules_file(render: Render) -> None:
    rule = one(render(set=["metrics.prometheusRule.enabled=true"]), "PrometheusRule")
    # The redis-exporter group needs the exporter, which is off by default.
    expected = [g for g in rules_file_groups() if g["name"] != "scheduler-api.redis-exporter"]
    assert rule["spec"]["groups"] == expected


def test_every_rule_group_has_a_switch_that_is_on_by_default() -> None:
    switches = yaml.safe_load((CHART / "values.yaml").read_text())["metrics"]["prometheusRule"]
    names = {group_switch(group["name"]) for group in rules_file_groups()}
    assert switches["groups"] == dict.fromkeys(names, True)


@pytest.mark.parametrize(
    "group", [g["name"] for g in rules_file_groups() if g["name"] != "scheduler-api.rules"]
)
def test_a_rule_group_switched_off_is_absent_and_the_others_stay(
    render: Render, group: str
) -> None:
    on = ["metrics.prometheusRule.enabled=true", "redis.metrics.enabled=true"]
    everything = rendered_groups(render(set=on))
    assert set(everything) == {g["name"] for g in rules_file_groups()}
    off = f"metrics.prometheusRule.groups.{group_switch(group)}=false"
    remaining = rendered_groups(render(set=[*on, off]))
    assert set(remaining) == set(everything) - {group}
    assert all(remaining[name] == everything[name] for name in remaining)


def test_rules_switched_off_leave_no_prometheus_rule(render: Render) -> None:
    off = [
        f"metrics.prometheusRule.groups.{group_switch(g['name'])}=false"
        for g in rules_file_groups()
    ]
    assert not of_kind(render(set=["metrics.prometheusRule.enabled=true", *off]), "PrometheusRule")


def test_runbook_urls_keep_their_section_under_the_configured_base(render: Render) -> None:
    base = "https://github.com/some-fork/scheduler-api/blob/v1.2.0/docs/observability.md"
    docs = render(
        set=["metrics.prometheusRule.enabled=true", f"metrics.prometheusRule.runbookBaseUrl={base}"]
    )
    source = {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for group in rules_file_groups()
        for rule in group["rules"]
        if "alert" in rule
    }
    rendered = [
        rule
        for group in rendered_groups(docs).values()
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert rendered
    for rule in rendered:
        anchor = source[rule["alert"]].split("#")[1]
        assert rule["annotations"]["runbook_url"] == f"{base}#{anchor}"


def test_dashboard_configmap_carries_the_dashboard(render: Render) -> None:
    docs = render(set=["metrics.grafanaDashboard.enabled=true"])
    dashboard = next(
        d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = json.loads((CHART / "files" / "grafana-dashboard.json").read_text())
    assert json.loads(dashboard["data"]["scheduler-api.json"]) == expected


def test_service_monitor_scrapes_metrics_with_the_token(render: Render) -> None:
    monitor = one(render(CHART / "ci" / "everything-on-values.yaml"), "ServiceMonitor")
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert endpoint["authorization"]["credentials"]["key"] == "metrics-token"
    assert "relabelings" not in endpoint and "metricRelabelings" not in endpoint


def test_service_monitor_goes_where_prometheus_looks_and_relabels(
    render: Render, tmp_path: Path
) -> None:
    drop = {"action": "drop", "regex": "python_info", "sourceLabels": ["__name__"]}
    node = {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"]}
    values = tmp_path / "values.yaml"
    monitor_values = {"enabled": True, "namespace": "monitoring"}
    monitor_values |= {"relabelings": [node], "metricRelabelings": [drop]}
    values.write_text(json.dumps({"metrics": {"serviceMonitor": monitor_values}}))
    monitor = one(render(values), "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    # It still selects the release's own Service, in the release's namespace.
    assert monitor["spec"]["namespaceSelector"]["matchNames"] != ["monitoring"]
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["relabelings"] == [node]
    assert endpoint["metricRelabelings"] == [drop]


def exporter(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    found = [c for c in containers if c["name"] == "redis-exporter"]
    assert len(found) == 1, [c["name"] for c in containers]
    return found[0]


def test_no_redis_exporter_by_default(render: Render) -> None:
    docs = render(set=["metrics.serviceMonitor.enabled=true"])
    containers = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["redis"]
    assert len(of_kind(docs, "ServiceMonitor")) == 1
    for service in of_kind(docs, "Service"):
        assert all(port["name"] != "redis-metrics" for port in service["spec"]["ports"])


def test_redis_exporter_reads_the_password_redis_uses(render: Render) -> None:
    docs = render(CHART / "ci" / "gitops-bundled-redis-values.yaml")
    pod = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    auth = next(volume for volume in pod["volumes"] if volume["name"] == "auth")["secret"]
    container = exporter(docs)
    assert container["image"] == "oliver006/redis_exporter:v1.88.0"
    assert "--redis.addr=redis://127.0.0.1:6379" in container["args"]
    (env,) = container["env"]
    assert env["name"] == "REDIS_PASSWORD"
    assert env["valueFrom"]["secretKeyRef"] == {
        "name": auth["secretName"],
        "key": auth["items"][0]["key"],
    }
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_redis_exporter_without_a_password_gets_none(render: Render) -> None:
    container = exporter(render(set=["redis.metrics.enabled=true", "redis.auth.enabled=false"]))
    assert "env" not in container


def test_redis_exporter_is_scraped_as_a_job_of_its_own(render: Render) -> None:
    docs = render(CHART / "ci" / "gitops-bundled-redis-values.yaml")
    port = exporter(docs)["ports"][0]
    assert (port["name"], port["containerPort"]) == ("redis-metrics", 9121)
    service = next(
        s for s in of_kind(docs, "Service") if s["metadata"]["name"] == "sched-scheduler-api-redis"
    )
    assert {
        "name": "redis-metrics",
        "port": 9121,
        "targetPort": "redis-metrics",
        "protocol": "TCP",
    } in service["spec"]["ports"]
    monitors = {m["metadata"]["name"]: m for m in of_kind(docs, "ServiceMonitor")}
    monitor = monitors["sched-scheduler-api-redis"]
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "redis-metrics"
    # Not a job the API's up{job=~".*scheduler-api.*"} alerts would count as a replica.
    job = next(r for r in endpoint["relabelings"] if r.get("targetLabel") == "job")
    assert job["replacement"] == "redis-exporter" and "scheduler-api" not in job["replacement"]
    group = rendered_groups(docs)["scheduler-api.redis-exporter"]
    assert all('job="redis-exporter"' in rule["expr"] for rule in group["rules"])


def test_network_policy_opens_the_exporter_port_only(render: Render) -> None:
    docs = render(CHART / "ci" / "gitops-bundled-redis-values.yaml")
    policy = next(
        p for p in of_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-redis")
    )
    redis_rule, metrics_rule = policy["spec"]["ingress"]
    assert redis_rule["ports"] == [{"port": "redis", "protocol": "TCP"}] and redis_rule["from"]
    assert metrics_rule == {"ports": [{"port": "redis-metrics", "protocol": "TCP"}]}


def _documented_paths() -> list[str]:
    """The dotted path of every value carrying a `# --` comment in values.yaml."""
    paths, stack, comment = [], [], ""
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = comment or stripped
            continue
        key = re.match(r"^(\s*)(\w+):", line)
        if key:
            indent = len(key.group(1))
            stack = [(i, k) for i, k in stack if i < indent] + [(indent, key.group(2))]
            if comment.startswith("# --"):
                paths.append(".".join(k for _, k in stack))
        comment = ""
    return paths


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    missing = [path for path in _documented_paths() if f"| `{path}` |" not in readme]
    assert not missing, f"values missing from the README table: {missing}"


def test_every_value_has_a_doc_comment() -> None:
    # helm-docs convention: a `# --` comment documents a value and everything under it; a mapping
    # without one must have its children documented instead.
    undocumented = []
    documented_indent: int | None = None
    comment = ""
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("#"):
            comment = comment or stripped
            continue
        key = re.match(r"^\s*(\w+):(.*)$", line)
        if key and (documented_indent is None or indent <= documented_indent):
            documented_indent = None
            if comment.startswith("# --"):
                documented_indent = indent
            elif key.group(2).strip():
                undocumented.append(key.group(1))
        comment = ""
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


def test_notes_tell_how_to_read_the_token(tool: Callable[[str], str]) -> None:
    result = run(
        [
            tool("helm"),
            "install",
            "sched",
            str(CHART),
            "--dry-run=client",
            "--namespace",
            "scheduler",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "kubectl get secret --namespace scheduler sched-scheduler-api" in result.stdout
    assert "{.data.api-token}" in result.stdout


def test_chart_files_are_present() -> None:
    for name in (
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "README.md",
        "templates/NOTES.txt",
        "templates/_helpers.tpl",
        "templates/tests/test-api.yaml",
    ):
        assert (CHART / name).is_file(), name
    assert not (REPO / "charts" / "scheduler-api" / "charts").exists(), (
        "no vendored or remote subcharts"
    )
