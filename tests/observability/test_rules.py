"""The alert rules, their unit tests, the Grafana dashboard and the compose Prometheus config."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts/scheduler-api/files/prometheus-rules.yaml"
DASHBOARD = ROOT / "charts/scheduler-api/files/grafana-dashboard.json"
RULES_TEST = Path(__file__).with_name("rules_test.yaml")
RUNBOOKS = ROOT / "docs/observability.md"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
INSTALL_SCRIPT = ROOT / "scripts/install-promtool.sh"
COMPOSE_RULES_PATH = "/etc/prometheus/rules/prometheus-rules.yaml"

# What the service exports (see docs/observability.md), plus the scrape's own `up`.
COUNTERS = {
    "scheduler_api_messages_scheduled_total",
    "scheduler_api_deliveries_total",
    "scheduler_api_delivery_attempts_total",
    "scheduler_api_http_requests_total",
    "scheduler_api_messages_refused_total",
    "scheduler_api_redis_errors_total",
}
HISTOGRAMS = {
    "scheduler_api_delivery_lateness_seconds",
    "scheduler_api_webhook_request_duration_seconds",
    "scheduler_api_http_request_duration_seconds",
}
GAUGES = {
    "scheduler_api_pending_messages",
    "scheduler_api_inflight_messages",
    "scheduler_api_dead_letter_messages",
    "scheduler_api_leader",
    "scheduler_api_redis_up",
    "scheduler_api_redis_memory_used_bytes",
    "scheduler_api_redis_memory_max_bytes",
    "scheduler_api_stored_messages",
    "scheduler_api_stored_body_bytes",
    "up",
}
EXPORTED = (
    COUNTERS
    | GAUGES
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)
# What the chart's redis_exporter sidecar exports that its alert group reads.
REDIS_EXPORTER = {"redis_memory_used_bytes", "redis_memory_max_bytes"}
EXPORTER_GROUP = "scheduler-api.redis-exporter"
REQUIRED_ANNOTATIONS = {"summary", "description", "runbook", "runbook_url"}
RUNBOOK_URL = re.compile(r"docs/observability\.md#([a-z0-9-]+)")
SEVERITIES = {"critical", "warning", "info"}

_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+(?::\w+)?\}?")
_MODIFIER = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = _GRAFANA_VARIABLE.sub("", _STRING.sub('""', expr))
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\boffset\s+\S+", "", _MODIFIER.sub("", text))
    names = set()
    for match in _IDENTIFIER.finditer(text):
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def load_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def load_rules() -> list[dict[str, Any]]:
    return [rule for group in load_groups() for rule in group["rules"]]


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.MULTILINE):
        text = re.sub(r"[^\w\- ]", "", heading.lower())
        anchors.add(text.replace(" ", "-"))
    return anchors


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard_queries() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not on PATH; scripts/install-promtool.sh installs it")
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


# Rules ------------------------------------------------------------------------


def test_promtool_accepts_the_rules_file(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_severity_and_says_what_to_check() -> None:
    for alert in alerts():
        assert alert.get("labels", {}).get("severity") in SEVERITIES, alert["alert"]
        missing = REQUIRED_ANNOTATIONS - set(alert.get("annotations", {}))
        assert not missing, f"{alert['alert']} lacks {sorted(missing)}"


def test_every_alert_links_to_its_own_runbook_section() -> None:
    anchors = heading_anchors(RUNBOOKS.read_text())
    for alert in alerts():
        found = RUNBOOK_URL.fullmatch(alert["annotations"]["runbook_url"])
        assert found, f"{alert['alert']}: runbook_url must be docs/observability.md#<anchor>"
        assert found.group(1) == alert["alert"].lower(), alert["alert"]
        assert found.group(1) in anchors, f"{alert['alert']}: no heading for #{found.group(1)}"


def test_heading_anchors_follow_github() -> None:
    assert heading_anchors("## Grafana locally\n#### SchedulerNoLeader\n### What (to) do\n") == {
        "grafana-locally",
        "schedulernoleader",
        "what-to-do",
    }


def test_groups_hold_alerts_by_concern_and_records_apart() -> None:
    groups = load_groups()
    names = [group["name"] for group in groups]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"scheduler-api\.[a-z]+(-[a-z]+)*", name) for name in names), names
    for group in groups:
        kinds = {"record" in rule for rule in group["rules"]}
        assert len(kinds) == 1, f"{group['name']} mixes recording and alerting rules"
    order = yaml.safe_load(RULES_TEST.read_text())["group_eval_order"]
    assert order == names, "rules_test.yaml evaluates every group, in the file's order"


def test_only_the_exporter_group_reads_redis_exporter_series() -> None:
    for group in load_groups():
        used = set().union(*(metric_names(rule["expr"]) for rule in group["rules"]))
        if group["name"] == EXPORTER_GROUP:
            assert used <= REDIS_EXPORTER, used
        else:
            assert not used & REDIS_EXPORTER, group["name"]


def test_every_alert_is_tested_both_firing_and_silent() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for name in (alert["alert"] for alert in alerts()):
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == name}
        assert outcomes == {True, False}, f"{name} needs a firing and a silent case"


def test_redis_write_refusals_alert_on_codes_the_service_uses() -> None:
    # A code renamed in the service would silence the alert without failing promtool.
    alert = next(a for a in alerts() if a["alert"] == "SchedulerRedisRefusingWrites")
    selector = re.search(r'code=~"([^"]+)"', alert["expr"])
    assert selector is not None
    codes = set(selector.group(1).split("|"))
    assert codes == {"redis_out_of_memory", "redis_read_only", "redis_disk_error"}
    source = "\n".join(path.read_text() for path in (ROOT / "service").glob("*.py"))
    assert all(f'"{code}"' in source for code in codes)


def test_redis_memory_alerts_ignore_an_unbounded_redis() -> None:
    # maxmemory 0 means "no limit"; dividing by it would make every Redis look infinitely full.
    alert = next(a for a in alerts() if a["alert"] == "SchedulerRedisMemoryNearlyFull")
    assert re.search(r"scheduler_api:redis_memory_max_bytes:max\s*>\s*0", alert["expr"])
    alert = next(a for a in alerts() if a["alert"] == "SchedulerBundledRedisMemoryFull")
    assert re.search(r"redis_memory_max_bytes\{[^}]*\}\s*>\s*0", alert["expr"])


def test_rules_select_only_exported_metrics_and_recorded_series() -> None:
    known = EXPORTED | REDIS_EXPORTER | recorded_names()
    for rule in load_rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')} uses {sorted(unknown)}"


def test_recording_rules_follow_the_level_metric_operation_convention() -> None:
    for name in recorded_names():
        assert re.fullmatch(r"scheduler_api:[a-z_]+:[a-z0-9_]+", name), name


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (le) (rate(scheduler_api_x_bucket{route="/a/{id}"}[5m] offset 1h))',
            {"scheduler_api_x_bucket"},
        ),
        ('absent(up{job=~"$job"} == 1) or vector(0)', {"up"}),
        ("a:b:c > 0.5 unless on (job) b_total", {"a:b:c", "b_total"}),
    ],
)
def test_metric_names_ignores_functions_labels_and_keywords(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# Dashboard --------------------------------------------------------------------


def test_dashboard_is_a_current_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    assert 36 <= board["schemaVersion"] <= 41
    ids = [panel["id"] for panel in panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_queries_go_through_the_datasource_variable() -> None:
    board = dashboard()
    variables = {var["name"]: var for var in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(board["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_dashboard_query_filters_by_namespace_and_job() -> None:
    variables = {var["name"] for var in dashboard()["templating"]["list"]}
    assert {"namespace", "job"} <= variables
    for title, expr in dashboard_queries():
        assert 'namespace=~"$namespace"' in expr and 'job=~"$job"' in expr, title


def test_dashboard_queries_select_only_exported_metrics_or_recorded_series() -> None:
    known = EXPORTED | recorded_names()
    queries = dashboard_queries()
    assert queries
    for title, expr in queries:
        unknown = metric_names(expr) - known
        assert not unknown, f"panel {title!r} uses {sorted(unknown)}"


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    # promtool parses expressions only inside a rules file, so wrap each query in one.
    rules = [
        {"record": f"dashboard:query:{index}", "expr": _GRAFANA_VARIABLE.sub(".*", expr)}
        for index, (_, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_shows_the_promised_panels() -> None:
    titles = {panel["title"] for panel in panels(dashboard()["panels"])}
    assert {
        "Deliveries per second by outcome",
        "Delivery lateness p50 / p99",
        "Pending messages",
        "In-flight messages",
        "Dead letters",
        "Lease holder per pod",
        "Redis up per pod",
        "API request rate by route",
        "API latency p99 by route",
        "Webhook duration p99",
        "Webhook attempts by status class",
    } <= titles


# Compose Prometheus and tooling -----------------------------------------------


def test_compose_prometheus_scrapes_the_app_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [COMPOSE_RULES_PATH]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "scheduler-api"
    assert job["static_configs"] == [{"targets": ["app:8000"]}]
    assert job.get("scrape_interval", config["global"]["scrape_interval"]) == "5s"


def test_promtool_accepts_the_compose_prometheus_config(promtool: str, tmp_path: Path) -> None:
    # Inside the container the rules are mounted; here point at the file in the repository.
    config = PROMETHEUS_CONFIG.read_text().replace(COMPOSE_RULES_PATH, str(RULES))
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    result = run(promtool, "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_script_is_valid_bash() -> None:
    result = run("bash", "-n", str(INSTALL_SCRIPT))
    assert result.returncode == 0, result.stderr
