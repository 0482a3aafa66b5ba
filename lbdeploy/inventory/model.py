"""The inventory's shape: pydantic models whose validators speak a sysadmin's language.

Field-level rules live here; rules that compare fields (subnets, duplicates) are in
`checks.py`, so each can point at the exact line that is wrong.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from lbdeploy.shell import Secret

# Characters that end a token, start a comment or open a block in keepalived.conf or
# haproxy.cfg. A value holding one would break the file or inject into it.
_BREAKING = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    " ": "a space",
    '"': 'a quote (")',
    "'": "a quote (')",
    "#": "a '#' (starts a comment)",
    "!": "a '!' (starts a comment in keepalived.conf)",
    "{": "a '{' (opens a block)",
    "}": "a '}' (closes a block)",
    "\\": "a backslash",
}


def _breaking_char(value: str) -> str | None:
    for ch in value:
        if ch in _BREAKING:
            return _BREAKING[ch]
        if ord(ch) < 32 or ord(ch) == 127:
            return "a control character"
    return None


def _config_word(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    found = _breaking_char(value)
    if found:
        raise ValueError(f"contains {found}, which would break the generated config")
    return value


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a usable name: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _host(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f"{value!r} is neither an IPv4 address nor a host name")
    if re.fullmatch(r"[0-9.]+", value):
        try:
            IPv4Address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid IPv4 address") from None
    return value


def _ipv4(value: Any) -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    try:
        return IPv4Address(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 address") from None


def _between(lo: int, hi: int) -> Any:
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"must be {lo}..{hi}, got {value}")
        return value

    return AfterValidator(check)


def _netmask(value: Any) -> IPv4Address:
    mask = _ipv4(value)
    try:
        IPv4Network(f"0.0.0.0/{mask}")
    except ValueError:
        raise ValueError(f"{mask} is not a netmask (e.g. 255.255.255.0)") from None
    return mask


_PATH = re.compile(r"/[A-Za-z0-9._~/?=&%+-]*")


def _url_path(value: str) -> str:
    if not _PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a plain URL path: start with '/', no spaces, quotes or '#'"
        )
    return value


_TIMEOUT = re.compile(r"[0-9]+(us|ms|s|m|h|d)?")


def _timeout(value: Any) -> str:
    text = str(value)
    if not _TIMEOUT.fullmatch(text):
        raise ValueError(f"{text!r} is not an HAProxy time (e.g. 5s, 500ms, 1m)")
    return text


_SECTION_KEYWORDS = {
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "program",
    "cache",
    "mailers",
    "ring",
    "http-errors",
    "fcgi-app",
}


def _haproxy_line(value: str) -> str:
    """Raw lines are the user's HAProxy; we only stop them escaping their section."""
    if not value.strip():
        raise ValueError("must not be empty")
    for ch in value:
        if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127:
            raise ValueError("contains a newline or control character; give one option per item")
    first = value.split()[0].lower()
    if first in _SECTION_KEYWORDS:
        raise ValueError(f"starts a new '{first}' section; raw options stay inside their section")
    return value


def _to_secret(value: Any, info: ValidationInfo) -> Secret:
    """A secret is a literal string or {env: NAME}, read from the environment given."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, dict):
        if set(value) != {"env"} or not isinstance(value["env"], str):
            raise ValueError("a secret is a string or {env: VARIABLE_NAME}")
        env = (info.context or {}).get("env", {})
        name = value["env"]
        if name not in env:
            raise ValueError(f"environment variable {name} is not set")
        value = env[name]
    if not isinstance(value, str):
        raise ValueError("a secret is a string or {env: VARIABLE_NAME}")
    return Secret(_config_word(value))


Name = Annotated[str, AfterValidator(_name)]
Host = Annotated[str, AfterValidator(_host)]
IPv4 = Annotated[
    IPv4Address,
    PlainValidator(_ipv4),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]
Netmask = Annotated[
    IPv4Address,
    PlainValidator(_netmask),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]
Port = Annotated[
    int, _between(1, 65535), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535})
]
ConfigWord = Annotated[str, AfterValidator(_config_word)]
UrlPath = Annotated[str, AfterValidator(_url_path)]
Timeout = Annotated[str, BeforeValidator(_timeout)]
HaproxyLine = Annotated[str, AfterValidator(_haproxy_line)]
SecretValue = Annotated[
    Secret,
    PlainValidator(_to_secret),
    PlainSerializer(str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {"env": {"type": "string"}},
                    "required": ["env"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class SshDefaults(_Strict):
    """How to reach every node unless the node says otherwise."""

    user: ConfigWord = "root"
    port: Port = 22
    identity_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0


class Node(_Strict):
    """One load-balancer machine; its name is its keepalived router_id."""

    host: Host
    port: Port | None = None
    user: ConfigWord | None = None
    identity_file: str | None = None
    address: IPv4 | None = Field(
        None, description="address on the public interface; defaults to host when host is an IP"
    )

    @property
    def public_address(self) -> IPv4Address | None:
        if self.address is not None:
            return self.address
        try:
            return IPv4Address(self.host)
        except ValueError:
            return None


class Interface(_Strict):
    """The public interface that carries the node's address and the VIPs."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,15}$")]
    netmask: Netmask
    gateway: IPv4 | None = None


class VrrpInstance(_Strict):
    """One VIP and the VRRP instance that moves it."""

    virtual_router_id: Annotated[int, _between(1, 255)]
    vip: IPv4
    auth_pass: SecretValue | None = None
    advert_int: Annotated[int, _between(1, 255)] = 1
    nopreempt: bool = False
    unicast: bool = False
    master: Name | None = Field(None, description="preferred holder; defaults to the first node")

    @field_validator("auth_pass")
    @classmethod
    def _at_most_8(cls, value: Secret | None) -> Secret | None:
        if value is not None and len(value) > 8:
            raise ValueError(
                "longer than 8 characters; keepalived's PASS authentication "
                "silently uses only the first 8"
            )
        return value


class Stats(_Strict):
    """HAProxy's stats page, on each node's own public address."""

    port: Port = 8404
    uri: UrlPath = "/stats"
    user: ConfigWord
    password: SecretValue

    @field_validator("user")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':' (HAProxy's stats auth is user:password)")
        return value


class Server(_Strict):
    """A backend server behind a service."""

    name: Name
    address: Host
    port: Port
    check: bool = True
    backup: bool = False
    weight: Annotated[int, _between(0, 256)] | None = None


class Service(_Strict):
    """A port HAProxy listens on at a VIP, and the servers behind it."""

    name: Name
    port: Port
    vip: IPv4 | None = Field(None, description="which VIP to listen on; defaults to the first")
    mode: Literal["http", "tcp"] = "http"
    balance: Literal["roundrobin", "static-rr", "leastconn", "first", "source", "uri", "random"] = (
        "roundrobin"
    )
    health_check: UrlPath | None = Field(None, description="HTTP path checked on each server")
    options: list[HaproxyLine] = Field(
        default_factory=list, description="raw HAProxy lines for this service's section"
    )
    servers: Annotated[list[Server], Field(min_length=1)]


class Timeouts(_Strict):
    connect: Timeout = "5s"
    client: Timeout = "50s"
    server: Timeout = "50s"


class HaproxySettings(_Strict):
    """Settings for the `global` and `defaults` sections."""

    maxconn: Annotated[int, _between(1, 10_000_000)] | None = None
    timeouts: Timeouts = Timeouts()
    options: list[HaproxyLine] = Field(
        default_factory=list, description="raw HAProxy lines for the defaults section"
    )


def _vrrp_one_or_many(schema: dict[str, Any]) -> None:
    """The loader accepts `vrrp:` as one mapping or a list; say so to editors."""
    many = schema["properties"]["vrrp"]
    schema["properties"]["vrrp"] = {"anyOf": [many["items"], many], "title": "Vrrp"}


class Inventory(_Strict):
    """The whole HA pair (or group) as the user describes it."""

    model_config = ConfigDict(json_schema_extra=_vrrp_one_or_many)

    ssh: SshDefaults = SshDefaults()
    nodes: Annotated[dict[Name, Node], Field(min_length=1)]
    interface: Interface
    vrrp: Annotated[list[VrrpInstance], Field(min_length=1)]
    stats: Stats | None = None
    services: list[Service] = Field(default_factory=list)
    haproxy: HaproxySettings = HaproxySettings()

    @property
    def network(self) -> IPv4Network | None:
        """The public subnet, taken from the first node's address and the netmask."""
        first = next(iter(self.nodes.values())).public_address
        if first is None:
            return None
        return IPv4Network(f"{first}/{self.interface.netmask}", strict=False)
