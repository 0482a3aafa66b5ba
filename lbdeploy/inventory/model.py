"""The inventory's shape: pydantic models built from the field types of `fields.py`.

VRRP's sections are in `vrrp.py`, anycast's in `anycast.py`. Rules that compare fields
(subnets, duplicates) are in `checks.py`, so each can point at the exact line that is wrong.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lbdeploy.inventory import openssl
from lbdeploy.inventory.acme import AcmeCert, AcmeSettings, tls_form
from lbdeploy.inventory.anycast import AnycastVip, Bgp, NodeBgp
from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import (
    Alpn,
    Flag,
    HaproxyLine,
    InterfaceName,
    LocalPath,
    LoginName,
    Name,
    Port,
    Prefix6,
    Seconds,
    SecretValue,
    StatsUser,
    Timeout,
    UrlPath,
    between,
)
from lbdeploy.inventory.ipfields import IP, Host, IPv4, IPv6, Netmask
from lbdeploy.inventory.persistence import RateLimit, Stick
from lbdeploy.inventory.tls import CertChain, Certificate, KeyFile, PrivateKey, key_matches
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


class Stats(Strict):
    """HAProxy's stats page, on each node's own public address."""

    port: Port = 8404
    uri: UrlPath = "/stats"
    user: StatsUser
    password: SecretValue
    metrics: Flag = Field(
        default=True,
        description="HAProxy's Prometheus exporter at /metrics on the stats listener, same auth",
    )
    exporters: Flag = Field(
        default=False,
        description="install node_exporter (and on anycast pairs the FRR exporter), each on"
        " the node's own addresses behind the stats credentials",
    )

    @field_validator("user")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':' (HAProxy's stats auth is user:password)")
        return value

    @model_validator(mode="after")
    def _bcrypt_length(self) -> Stats:
        """The exporters check the password with bcrypt, which reads at most 72 bytes."""
        if self.exporters and len(self.password.reveal().encode()) > 72:
            raise ValueError(
                "exporters: the password is longer than 72 bytes, more than bcrypt (the"
                " exporters' basic auth) reads; choose a shorter one"
            )
        return self


class Server(Strict):
    """A backend server behind a service."""

    name: Name
    address: Host
    port: Port
    check: Flag = True
    backup: Flag = False
    weight: Annotated[int, between(0, 256)] | None = None


class TlsPair(Strict):
    """A certificate (with its chain) and its key; several on a service are picked by SNI."""

    cert: Certificate
    key: PrivateKey

    @field_validator("key")
    @classmethod
    def _matches(cls, key: KeyFile, info: ValidationInfo) -> KeyFile:
        cert = info.data.get("cert")
        if isinstance(cert, CertChain) and not key_matches(cert, key):
            raise ValueError(f"{key.path} is not the key of the certificate {cert.path}")
        return key


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


def _scalar_or_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class Service(Strict):
    """A port HAProxy listens on at a VIP, and the servers behind it."""

    name: Name
    port: Port
    vip: Annotated[list[IP], BeforeValidator(_scalar_or_list), Field(min_length=1)] | None = Field(
        None, description="the VIP (or a list of VIPs) to listen on; defaults to the first"
    )
    mode: Literal["http", "tcp"] = "http"
    balance: Literal["roundrobin", "static-rr", "leastconn", "first", "source", "uri", "random"] = (
        "roundrobin"
    )
    health_check: UrlPath | None = Field(None, description="HTTP path checked on each server")
    options: list[HaproxyLine] = Field(
        default_factory=list, description="raw HAProxy lines for this service's section"
    )
    servers: Annotated[list[Server], Field(min_length=1)]
    tls: (
        Annotated[
            Annotated[
                list[TlsPair], BeforeValidator(_one_or_many), Field(min_length=1), Tag("<files>")
            ]
            | Annotated[AcmeCert, Tag("<acme>")],
            Discriminator(tls_form),
        ]
        | None
    ) = Field(
        None,
        description="terminate HTTPS here: {cert, key} or a list of them (SNI), or"
        " {acme: [names]} for a certificate from the `acme:` CA",
    )
    redirect_http: Flag = Field(
        default=False, description="with tls: also listen on port 80 and redirect to https"
    )
    hsts: Annotated[int, between(0, 2 * 365 * 86400)] | None = Field(
        None, description="with tls: Strict-Transport-Security max-age, in seconds"
    )
    alpn: Alpn = "h2,http/1.1"
    stick: Stick | None = Field(
        None, description="keep each client on its server, across failovers and reloads"
    )
    rate_limit: RateLimit | None = Field(
        None, description="HTTP 429 past this many requests per client, counted pair-wide"
    )

    @property
    def tls_files(self) -> list[TlsPair]:
        """The certificate files of the files form; none for ACME or plain HTTP."""
        return self.tls if isinstance(self.tls, list) else []

    @property
    def acme_names(self) -> tuple[str, ...]:
        """The names of its ACME certificate; none for the files form."""
        return tuple(self.tls.acme) if isinstance(self.tls, AcmeCert) else ()


class TlsSettings(Strict):
    """TLS defaults for every HTTPS listener (Mozilla's intermediate profile)."""

    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"
    ciphers: openssl.CipherList = openssl.INTERMEDIATE_CIPHERS
    ciphersuites: openssl.SuiteList = openssl.INTERMEDIATE_SUITES


class Timeouts(Strict):
    connect: Timeout = "5s"
    client: Timeout = "50s"
    server: Timeout = "50s"


class HaproxySettings(Strict):
    """Settings for the `global` and `defaults` sections."""

    maxconn: Annotated[int, between(1, 10_000_000)] | None = None
    timeouts: Timeouts = Timeouts()
    options: list[HaproxyLine] = Field(
        default_factory=list, description="raw HAProxy lines for the defaults section"
    )
    tls: TlsSettings = TlsSettings()
    peers_port: Port = Field(
        default=10000,
        description="where the nodes sync stick tables (stick, rate_limit), on each node's own"
        " address; reachable between the nodes only",
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
