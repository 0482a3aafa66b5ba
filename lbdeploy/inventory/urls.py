"""The alerts webhook, read as curl reads it: what curl refuses, or makes of it, is refused here.

The notify handler runs `curl -K /etc/lbdeploy/alerts`, whose `url = "..."` line holds it
(templates/vrrp-notify.sh.j2, alerts.j2). A URL that curl
cannot parse fails at every VRRP transition, and none says so but a journal line; one
with brackets in its path is a curl glob pattern (`[1-3]` posts three times). Checked
with curl 7.88 (Debian 12). Messages quote no part of the URL but a port: it is a secret.
"""

from __future__ import annotations

import re
from ipaddress import IPv6Address
from urllib.parse import unquote

_SCHEME = re.compile(r"(?i)https?://")
# curl's urlapi.c hostname_check(): a host holding one of these is refused (after %XX
# decoding), "URL using bad/illegal format"; a '%' left undecoded passes curl 7.88.
_BAD_HOST = set(" \r\n\t/:#?!@{}[]\\$'\"^`*<>=;,+&()")


def _check_host(host: str) -> str | None:
    if not host:
        return "has no host (http://HOST/...)"
    bad = sorted(set(unquote(host)) & _BAD_HOST)
    if bad:
        return f"has {bad[0]!r} in its host name, which curl refuses"
    return None


def _check_port(port: str) -> str | None:
    if not port:
        return None  # 'host:/' is the scheme's default port, for curl too
    if not port.isascii() or not port.isdigit():
        return "has a port that is not a number"
    if not 0 < int(port) <= 65535:
        return f"has port {int(port)}, outside 1..65535"
    return None


def _check_authority(authority: str) -> str | None:
    host_port = authority.rpartition("@")[2]  # after any user:password@
    if host_port.startswith("["):
        literal, bracket, port = host_port[1:].partition("]")
        try:
            IPv6Address(literal.split("%25")[0])
        except ValueError:
            return "has brackets around something that is not an IPv6 address"
        if not bracket or (port and not port.startswith(":")):
            return "has an IPv6 address in brackets that is not followed by ':port' or '/'"
        return _check_port(port[1:])
    host, _, port = host_port.partition(":")
    if ":" in port:
        return "has an IPv6 address without brackets: write http://[ADDRESS]:PORT/..."
    return _check_host(host) or _check_port(port)


def check_webhook(url: str) -> str:
    """The URL, if curl would post to it once; ValueError saying why not otherwise."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        raise ValueError("must be an http:// or https:// URL")
    rest = url[scheme.end() :]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    problem = _check_authority(authority)
    if problem is None and re.search(r"[][]", rest[len(authority) :]):
        problem = (
            "has '[' or ']' after the host, which curl reads as a range pattern (one URL"
            " becomes several, or none): write them as %5B and %5D"
        )
    if problem is not None:
        raise ValueError(f"the URL {problem}")
    return url
