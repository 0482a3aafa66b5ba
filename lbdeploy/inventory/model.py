"""The inventory's root: how to reach the nodes, the nodes, their interface, and every section.

The sections have their own modules: `vrrp.py`, `anycast.py`, `proxy.py` (services, stats,
HAProxy settings), `acme.py`. Rules that compare fields (subnets, duplicates) are in
`checks.py`, so each can point at the exact line that is wrong.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.inventory.anycast import AnycastVip, Bgp, NodeBgp
from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import (
    Flag,
    InterfaceName,
    LocalPath,
    LoginName,
    Name,
    Port,
    Prefix6,
    Seconds,
)
from lbdeploy.inventory.ipfields import IP, Host, IPv4, IPv6, Netmask
from lbdeploy.inventory.proxy import HaproxySettings, Service, Stats
from lbdeploy.inventory.vrrp import Alerts, VrrpInstance


class SshDefaults(Strict):
    """How to reach every node unless the node says otherwise."""

    user: LoginName = "root"
    port: Port = 22
    identity_file: LocalPath | None = None
    known_hosts: LocalPath = "~/.ssh/known_hosts"
    config_file: LocalPath | Literal[False] | None = Field(
        default="~/.ssh/config",
        description="OpenSSH client config, read by the commands that connect: Host aliases,"
        " HostName, User, Port, IdentityFile, ProxyJump (false or null: read none)",
    )
    connect_timeout: Annotated[Seconds, Field(gt=0, le=300, allow_inf_nan=False)] = 10.0


class Node(Strict):
    """One load-balancer machine; its name is its keepalived router_id."""

    host: Host
    port: Port | None = None
    user: LoginName | None = None
    identity_file: LocalPath | None = None
    address: IP | None = Field(
        None,
        description="address on the public interface (IPv4, or IPv6 on an IPv6-only pair);"
        " defaults to host when host is an IP",
    )
    address6: IPv6 | None = Field(
        None, description="the node's IPv6 address on the public interface, beside its IPv4 one"
    )
    bgp: NodeBgp | None = Field(None, description="this node's own asn or peers (anycast)")

    def _given(self) -> IPv4Address | IPv6Address | None:
        if self.address is not None:
            return self.address
        try:
            return ip_address(self.host)
        except ValueError:
            return None

    @property
    def public_address(self) -> IPv4Address | None:
        """The IPv4 address on the public interface, if the node has one."""
        given = self._given()
        return given if isinstance(given, IPv4Address) else None

    @property
    def public_address6(self) -> IPv6Address | None:
        """The IPv6 address on the public interface: address6, or an IPv6 address/host."""
        if self.address6 is not None:
            return self.address6
        given = self._given()
        return given if isinstance(given, IPv6Address) else None


class Interface(Strict):
    """The public interface that carries the node's address and the VIPs."""

    name: InterfaceName
    netmask: Netmask | None = Field(None, description="IPv4 netmask; needed when nodes have IPv4")
    gateway: IPv4 | None = None
    prefix6: Prefix6 | None = Field(
        None, description="IPv6 prefix length (e.g. 64); needed when nodes have IPv6"
    )
    gateway6: IPv6 | None = None
    manage: Flag = Field(
        default=True,
        description="configure the address through the node's network stack (false: only"
        " check that the interface has it, e.g. under NetworkManager)",
    )


def _vrrp_one_or_many(schema: dict[str, Any]) -> None:
    """The loader accepts `vrrp:` as one mapping or a list; say so to editors."""
    many = schema["properties"]["vrrp"]
    schema["properties"]["vrrp"] = {"anyOf": [many["items"], many], "title": "Vrrp"}


class Inventory(Strict):
    """The whole HA pair (or group) as the user describes it."""

    model_config = ConfigDict(json_schema_extra=_vrrp_one_or_many)

    ssh: SshDefaults = SshDefaults()
    nodes: Annotated[dict[Name, Node], Field(min_length=1)]
    interface: Interface
    vrrp: list[VrrpInstance] = Field(default_factory=list)  # or anycast, or both
    bgp: Bgp | None = None
    anycast: list[AnycastVip] = Field(default_factory=list)
    stats: Stats | None = None
    alerts: Alerts | None = None
    services: list[Service] = Field(default_factory=list)
    haproxy: HaproxySettings = HaproxySettings()
    acme: AcmeSettings | None = Field(None, description="the CA of `tls: {acme: [names]}`")

    @property
    def network(self) -> IPv4Network | None:
        """The public IPv4 subnet, from the first node with an IPv4 address and the netmask."""
        first = next((n.public_address for n in self.nodes.values() if n.public_address), None)
        if first is None or self.interface.netmask is None:
            return None
        return IPv4Network(f"{first}/{self.interface.netmask}", strict=False)

    @property
    def network6(self) -> IPv6Network | None:
        """The public IPv6 prefix, from the first node with an IPv6 address and prefix6."""
        first = next((n.public_address6 for n in self.nodes.values() if n.public_address6), None)
        if first is None or self.interface.prefix6 is None:
            return None
        return IPv6Network(f"{first}/{self.interface.prefix6}", strict=False)
