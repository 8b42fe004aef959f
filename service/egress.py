"""The egress policy: which addresses a webhook may reach (WEBHOOK_DENY/ALLOW_NETWORKS).

A literal IP in a URL is checked when the message is accepted. A host name is checked
when an attempt connects: the transports resolve it through `resolve_checked`, and
every address it resolves to must pass before any packet is sent to any of them, so a
name that resolves (or re-resolves: DNS rebinding) to a denied address gets nowhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Keywords usable in WEBHOOK_DENY_NETWORKS (and WEBHOOK_ALLOW_NETWORKS).
KEYWORDS: dict[str, tuple[str, ...]] = {
    # Never a webhook receiver: "this host", link-local (cloud metadata at
    # 169.254.169.254), Alibaba's metadata, AWS's IPv6 metadata, multicast, broadcast.
    "default": (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "100.100.100.200/32",
        "fe80::/10",
        "fd00:ec2::254/128",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
    ),
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ),
}


class EgressDenied(Exception):
    """A destination the policy refuses; the message names the address and the setting."""


def parse_networks(spec: str, *, setting: str) -> tuple[Network, ...]:
    """CIDRs and keywords, comma-separated; ValueError names the bad entry and the setting."""
    networks: list[Network] = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        for cidr in KEYWORDS.get(entry.lower(), (entry,)):
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                known = ", ".join(KEYWORDS)
                raise ValueError(
                    f"{setting}: '{entry}' is neither a CIDR nor a keyword ({known})"
                ) from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    deny: tuple[Network, ...]
    allow: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, deny: str, allow: str) -> EgressPolicy:
        return cls(
            parse_networks(deny, setting="WEBHOOK_DENY_NETWORKS"),
            parse_networks(allow, setting="WEBHOOK_ALLOW_NETWORKS"),
        )

    def refusal(self, address: Address) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        address = _unmapped(address)
        if any(address in network for network in self.allow):
            return None
        for network in self.deny:
            if address in network:
                return f"{address} is denied by WEBHOOK_DENY_NETWORKS ({network})"
        return None

    def check_literal(self, host: str) -> str | None:
        """For a URL host that is an IP literal: why it is refused; None for names or allowed."""
        try:
            address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            return None
        return self.refusal(address)

    def check_all(self, addresses: Iterable[str]) -> None:
        """Raise EgressDenied if any resolved address is refused."""
        for text in addresses:
            reason = self.refusal(ipaddress.ip_address(text.split("%", 1)[0]))
            if reason is not None:
                raise EgressDenied(reason)

    @property
    def open(self) -> bool:
        return not self.deny


async def resolve_checked(policy: EgressPolicy, host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) for `host`, after every one of its addresses passed the policy."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[tuple[int, str]] = [(int(info[0]), str(info[4][0])) for info in infos]
    policy.check_all(address for _, address in found)
    return found


def _unmapped(address: Address) -> Address:
    """::ffff:10.0.0.1 is 10.0.0.1: IPv4-mapped IPv6 addresses are judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
