"""HAProxy's part of the inventory: services with their servers and certificates, stats, settings.

The settings are those of haproxy.cfg's `global` and `defaults` sections. Rules that
compare a service with the rest of the inventory are in `services.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lbdeploy.inventory import openssl
from lbdeploy.inventory.acme import AcmeCert, tls_form
from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import (
    Alpn,
    Flag,
    HaproxyLine,
    Name,
    Port,
    SecretValue,
    StatsUser,
    Timeout,
    UrlPath,
    between,
)
from lbdeploy.inventory.ipfields import IP, Host
from lbdeploy.inventory.persistence import RateLimit, Stick
from lbdeploy.inventory.tls import CertChain, Certificate, KeyFile, PrivateKey, key_matches


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
