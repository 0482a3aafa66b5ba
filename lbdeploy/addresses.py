"""IPv4 and IPv6 side by side: how each family is written where lbdeploy writes addresses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface


def hostport(host: str | IPAddress, port: int) -> str:
    """'10.0.0.1:80', '[fd00::1]:80': the form HAProxy, URLs and lbdeploy's probe keys use."""
    text = str(host)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def needle(address: IPAddress) -> str:
    """What `ip -o addr show` prints before the prefix of `address`: ' inet 10.0.0.1/'."""
    return f" inet{'6' if address.version == 6 else ''} {address}/"
