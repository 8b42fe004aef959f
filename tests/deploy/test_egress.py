"""Webhook egress: the service's deny list from values, and the optional NetworkPolicy fence."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.deploytools import CHART, CI_VALUES, REPO, kustomize, of_kind, one

Render = Callable[..., list[dict[str, Any]]]
# Where instance credentials live: a webhook must never reach these, whatever the values say.
METADATA = {"169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"}
EGRESS_ON = ["networkPolicy.enabled=true", "networkPolicy.egress.enabled=true"]


def policy(docs: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    found = [d for d in of_kind(docs, "NetworkPolicy") if d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, [d["metadata"]["name"] for d in of_kind(docs, "NetworkPolicy")]
    return found[0]


def api_policy(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return policy(docs, "scheduler-api")


def redis_policy(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return policy(docs, "scheduler-api-redis")


def blocks(spec: dict[str, Any]) -> dict[str, set[str]]:
    """The `except` lists of the egress ipBlocks, by their CIDR."""
    return {
        peer["ipBlock"]["cidr"]: set(peer["ipBlock"].get("except", []))
        for rule in spec.get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    }


def allows_dns(spec: dict[str, Any]) -> bool:
    return any(
        "to" not in rule
        and {(p["port"], p["protocol"]) for p in rule["ports"]} >= {(53, "UDP"), (53, "TCP")}
        for rule in spec["egress"]
    )


def config(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The API's ConfigMap (not the dashboard's)."""
    found = [d for d in of_kind(docs, "ConfigMap") if "API_PORT" in d["data"]]
    assert len(found) == 1
    data = found[0]["data"]
    assert isinstance(data, dict)
    return data


# The service's own check -------------------------------------------------------------------


def test_chart_passes_the_deny_and_allow_networks_to_the_service(render: Render) -> None:
    defaults = config(render())
    assert (defaults["WEBHOOK_DENY_NETWORKS"], defaults["WEBHOOK_ALLOW_NETWORKS"]) == (
        "default",
        "",
    )
    chosen = config(
        render(set=["egress.denyNetworks=default\\,private", "egress.allowNetworks=10.20.0.0/16"])
    )
    assert chosen["WEBHOOK_DENY_NETWORKS"] == "default,private"
    assert chosen["WEBHOOK_ALLOW_NETWORKS"] == "10.20.0.0/16"


@pytest.mark.parametrize("values", CI_VALUES, ids=[path.name for path in CI_VALUES])
def test_chart_egress_values_parse_in_the_service(render: Render, values: Any) -> None:
    from service.egress import EgressPolicy

    data = config(render(values))
    EgressPolicy.from_settings(data["WEBHOOK_DENY_NETWORKS"], data["WEBHOOK_ALLOW_NETWORKS"])


def test_networkpolicy_fence_blocks_only_what_the_service_default_denies() -> None:
    # The fence behind the service's check must not refuse what the service would allow.
    from service.egress import KEYWORDS

    default = [ipaddress.ip_network(cidr) for cidr in KEYWORDS["default"]]
    for cidr in METADATA:
        network = ipaddress.ip_network(cidr)
        assert any(
            network.version == d.version and network.subnet_of(d)  # type: ignore[arg-type]
            for d in default
        ), cidr


# The chart's NetworkPolicy -----------------------------------------------------------------


def test_egress_stays_open_unless_asked(render: Render) -> None:
    docs = render(set=["networkPolicy.enabled=true"])
    for spec in (api_policy(docs)["spec"], redis_policy(docs)["spec"]):
        assert spec["policyTypes"] == ["Ingress"]
        assert "egress" not in spec


def test_egress_allows_dns_redis_and_webhooks_but_not_metadata(render: Render) -> None:
    docs = render(set=EGRESS_ON)
    spec = api_policy(docs)["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert allows_dns(spec)
    redis_labels = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    to_redis = [
        rule
        for rule in spec["egress"]
        for peer in rule.get("to", [])
        if "podSelector" in peer
        and peer["podSelector"]["matchLabels"].items() <= redis_labels.items()
    ]
    assert to_redis and to_redis[0]["ports"] == [{"port": 6379, "protocol": "TCP"}]
    excepted = blocks(spec)
    assert set(excepted) == {"0.0.0.0/0", "::/0"}
    assert excepted["0.0.0.0/0"] | excepted["::/0"] >= METADATA


def test_extra_blocked_cidrs_go_to_their_address_family(render: Render) -> None:
    docs = render(set=[*EGRESS_ON, "networkPolicy.egress.blockedCIDRs={10.0.0.0/8,fd00::/8}"])
    excepted = blocks(api_policy(docs)["spec"])
    assert "10.0.0.0/8" in excepted["0.0.0.0/0"] and "fd00::/8" in excepted["::/0"]
    for cidr, excepts in excepted.items():
        outer = ipaddress.ip_network(cidr)
        assert all(ipaddress.ip_network(e).subnet_of(outer) for e in excepts), cidr  # type: ignore[arg-type]


def test_extra_egress_rules_are_appended(render: Render) -> None:
    docs = render(CHART / "ci" / "everything-on-values.yaml")
    rules = api_policy(docs)["spec"]["egress"]
    assert {"port": 6380, "protocol": "TCP"} in [p for r in rules for p in r.get("ports", [])]
    assert not any("podSelector" in peer for r in rules for peer in r.get("to", [])), (
        "no bundled Redis, no rule for it"
    )


def test_bundled_redis_may_open_no_connection(render: Render) -> None:
    spec = redis_policy(render(set=EGRESS_ON))["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert not spec.get("egress")


# The production overlay --------------------------------------------------------------------


def test_production_overlay_fences_egress_like_the_chart(tool: Callable[[str], str]) -> None:
    docs = kustomize(tool("kubectl"), REPO / "k8s" / "overlays" / "production")
    api = api_policy(docs)["spec"]
    assert api["policyTypes"] == ["Ingress", "Egress"]
    assert allows_dns(api)
    excepted = blocks(api)
    assert set(excepted) == {"0.0.0.0/0", "::/0"}
    assert excepted["0.0.0.0/0"] | excepted["::/0"] >= METADATA
    redis = redis_policy(docs)["spec"]
    assert redis["policyTypes"] == ["Ingress", "Egress"] and not redis.get("egress")
