"""ACME on the nodes: HAProxy's challenge map, and the scripts that fill, check and empty it.

The map file is empty on disk; an order's tokens go in through the runtime API (`add
map`, no reload) on every node, are checked there, and are taken out when the order is
done. Syntax: HAProxy 2.6 management.txt, `add map <map> <key> <value>`, `del map <map>
<key>` (every entry of that key), `get map <map> <value>` (`found=yes` when it matches).
"""

from __future__ import annotations

import jinja2

from lbdeploy.addresses import IPAddress, hostport
from lbdeploy.components.base import Component, Context
from lbdeploy.components.haproxy import ACME_MAP, HAPROXY_SOCKET, RELOAD
from lbdeploy.core.acme import Challenge
from lbdeploy.core.desired import PairState
from lbdeploy.core.files import ManagedFile
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

ANSWERS = "acme-answers"
MAP_CONTENT = (
    "# Managed by lbdeploy: ACME HTTP-01 answers (path, key authorization) are added here\n"
    "# through HAProxy's runtime API while an order runs, never written to this file.\n"
)
_API = "echo {query} | socat -t 5 stdio unix-connect:{socket}"


class Acme(Component):
    name = "acme"

    def wanted(self, pair: PairState) -> bool:
        return bool(pair.acme_services)

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (ACME_MAP,)

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        # Same step as haproxy.cfg, which names it: `haproxy -c` checks the staged pair.
        return [ManagedFile(ACME_MAP, MAP_CONTENT, 0o644, on_change=RELOAD)]


def publish_lines(challenges: tuple[Challenge, ...]) -> Script:
    """Each token into the live map: an older entry of the same path first taken out
    (`add map` does not replace), then the new one; HAProxy answers `add` with nothing."""
    script = Script()
    for c in challenges:
        script.probe(
            cmd(_API + " >/dev/null", query=f"del map {ACME_MAP} {c.path}", socket=HAPROXY_SOCKET)
        )
        script.line(
            cmd(
                "out=$(" + _API + " 2>&1) || out='socat failed';"
                ' if [ -n "$(printf %s "$out" | tr -d "[:space:]")" ]; then'
                ' echo {what}"$out" >&2; exit 70; fi',
                query=f"add map {ACME_MAP} {c.path} {c.key_authorization}",
                socket=HAPROXY_SOCKET,
                what="HAProxy's runtime API refused the ACME token: ",
            )
        )
    return script


def check_lines(challenges: tuple[Challenge, ...], vips: tuple[IPAddress, ...]) -> Script:
    """What this node answers: the entry in its HAProxy's map (`map TOKEN ok|missing`),
    and, for each VIP it holds, the body HAProxy serves on port 80 (`http TOKEN ok`, or
    what came instead). A VIP it does not hold (a VRRP backup) leads to the holder, so
    only the map speaks for this node then (`http TOKEN skip`)."""
    script = Script().section(ANSWERS)
    for c in challenges:
        script.probe(
            cmd(
                "if " + _API + " 2>/dev/null | grep -q 'found=yes'; then echo map {token} ok;"
                " else echo map {token} missing; fi",
                query=f"get map {ACME_MAP} {c.path}",
                socket=HAPROXY_SOCKET,
                token=c.token,
            )
        )
        for vip in vips:
            script.probe(
                cmd(
                    "if ip -o route get {vip} 2>/dev/null | grep -q '^local '; then"
                    " body=$(printf 'GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' {path} {name}"
                    " | socat -t 5 - TCP:{target} 2>/dev/null | tail -n 1 | tr -d '\\r');"
                    ' if [ "$body" = {authz} ]; then echo http {token} ok;'
                    ' else echo http {token} "$(printf %s "$body" | head -c 60'
                    " | tr -c 'A-Za-z0-9._ -' '?')\"; fi;"
                    " else echo http {token} skip; fi",
                    vip=str(vip),
                    path=c.path,
                    name=c.name,
                    target=hostport(vip, 80),
                    authz=c.key_authorization,
                    token=c.token,
                )
            )
    return script


def withdraw_lines(challenges: tuple[Challenge, ...]) -> Script:
    """Every token of the order out of the live map, answered or not."""
    script = Script()
    for c in challenges:
        script.probe(
            cmd(_API + " >/dev/null", query=f"del map {ACME_MAP} {c.path}", socket=HAPROXY_SOCKET)
        )
    return script
