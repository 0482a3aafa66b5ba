"""Address fields of the inventory (IPv4, IPv6, host names, netmasks), in a sysadmin's words."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


_WITH_PORT = re.compile(
    r"\[(?P<v6>[^\]]*)\](:(?P<v6port>[0-9]+))?"  # [2001:db8::1]:22, [2001:db8::1]
    r"|(?P<name>[^:]+):(?P<port>[0-9]*)"  # hera:22, 10.0.0.5:22, hera:
)


def _host(value: str) -> str:
    """A name or an address alone; 'hera:22' or '[fd00::1]:22' say where the port goes."""
    found = _WITH_PORT.fullmatch(value)
    if found and (found["name"] or found["v6"]):
        alone = found["name"] or found["v6"]
        port = found["port"] or found["v6port"]
        if port:
            raise ValueError(
                f"{value!r} holds a port: give {alone} alone here and the port as port: {port}"
            )
        if found["v6"]:
            raise ValueError(f"{value!r}: write the IPv6 address without brackets, {alone}")
        raise ValueError(f"{value!r} ends with ':'; give the name or address alone")
    if ":" in value:
        _ipv6(value)
        return value
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
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


def _ipv6(value: Any) -> IPv6Address:
    if isinstance(value, IPv6Address):
        return value
    text = str(value)
    if "%" in text:
        raise ValueError(f"{text!r} has a zone (%...); give a global or unique-local address")
    try:
        address = IPv6Address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid IPv6 address") from None
    if address.ipv4_mapped is not None:
        raise ValueError(f"{text} is an IPv4-mapped address; write {address.ipv4_mapped} instead")
    return address


def _ip(value: Any) -> IPv4Address | IPv6Address:
    """Either family: a text with ':' is IPv6, anything else IPv4."""
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    text = str(value)
    if ":" in text:
        return _ipv6(text)
    try:
        return ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid IPv4 or IPv6 address") from None


# /8 is the widest real LAN: a wider mask (0.0.0.0 is /0) is a typo, and would make a node
# treat most of the internet as on-link. /30 is the narrowest with room for two nodes and
# a VIP.
_WIDEST_PREFIX, _NARROWEST_PREFIX = 8, 30


def _netmask(value: Any) -> IPv4Address:
    mask = _ipv4(value)
    try:
        prefix = IPv4Network(f"0.0.0.0/{mask}").prefixlen
    except ValueError:
        raise ValueError(f"{mask} is not a netmask (e.g. 255.255.255.0)") from None
    if prefix < _WIDEST_PREFIX:
        raise ValueError(
            f"{mask} (/{prefix}) is wider than /{_WIDEST_PREFIX}; the public interface is one "
            "LAN (e.g. 255.255.255.0)"
        )
    if prefix > _NARROWEST_PREFIX:
        raise ValueError(
            f"{mask} (/{prefix}) leaves no room for two nodes and a VIP; "
            f"use /{_NARROWEST_PREFIX} or wider"
        )
    return mask


Host = Annotated[str, AfterValidator(_host)]
IPv4 = Annotated[
    IPv4Address,
    PlainValidator(_ipv4),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]
IPv6 = Annotated[
    IPv6Address,
    PlainValidator(_ipv6),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ipv6"}),
]
IP = Annotated[
    IPv4Address | IPv6Address,
    PlainValidator(_ip),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
]
Netmask = Annotated[
    IPv4Address,
    PlainValidator(_netmask),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]
