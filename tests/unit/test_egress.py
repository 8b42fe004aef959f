"""The egress policy, judged on addresses alone (no packet is sent anywhere)."""

from __future__ import annotations

import ipaddress

import pytest

from service.egress import EgressDenied, EgressPolicy, parse_networks

DEFAULT = EgressPolicy.from_settings("default", "")
STRICT = EgressPolicy.from_settings("default,loopback,private", "10.1.2.0/24")


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",
        "fd00:ec2::254",
        "fe80::1",
        "224.0.0.1",
        "::",
    ],
)
def test_default_closes_metadata_link_local_and_multicast(address: str) -> None:
    assert "WEBHOOK_DENY_NETWORKS" in (DEFAULT.refusal(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "192.168.1.1", "8.8.8.8", "::1"])
def test_default_keeps_local_and_in_cluster_receivers_working(address: str) -> None:
    assert DEFAULT.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.9.9.9", "172.16.0.1", "fc00::1"])
def test_strict_closes_loopback_and_private(address: str) -> None:
    assert STRICT.refusal(ipaddress.ip_address(address)) is not None


def test_the_allow_list_wins_over_a_deny_entry() -> None:
    assert STRICT.refusal(ipaddress.ip_address("10.1.2.3")) is None


def test_ipv4_mapped_ipv6_is_judged_as_ipv4() -> None:
    assert STRICT.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is not None
    assert DEFAULT.refusal(ipaddress.ip_address("::ffff:169.254.169.254")) is not None


@pytest.mark.parametrize(
    ("host", "refused"),
    [("127.0.0.1", True), ("[::1]", True), ("[fe80::1%25eth0]", False), ("localhost", False)],
)
def test_literal_hosts_are_checked_names_are_left_for_connect_time(
    host: str, refused: bool
) -> None:
    policy = EgressPolicy.from_settings("loopback", "")
    assert (policy.check_literal(host) is not None) is refused


def test_every_resolved_address_must_pass() -> None:
    with pytest.raises(EgressDenied, match=r"127\.0\.0\.1 is denied"):
        STRICT.check_all(["8.8.8.8", "127.0.0.1"])
    STRICT.check_all(["8.8.8.8", "2001:db8::1"])


def test_an_unknown_entry_names_the_setting_and_the_keywords() -> None:
    with pytest.raises(ValueError, match=r"WEBHOOK_ALLOW_NETWORKS: 'intranet'.*loopback"):
        parse_networks("10.0.0.0/8, intranet", setting="WEBHOOK_ALLOW_NETWORKS")


def test_an_empty_deny_list_is_open() -> None:
    assert EgressPolicy.from_settings("", "").open
