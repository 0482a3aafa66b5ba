"""FRR at runtime: what `status`, `verify`, `failover-test` and `withdraw` ask bgpd and
bfdd, the parsers of their JSON, and how a node's announcements are withdrawn and
restored without touching the VIPs on lo.

The JSON shapes are FRR's own (recorded from 8.4.4 in tests/unit/data/facts/frr/,
field names checked at frr-10.3; docs/anycast.md has the sources).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lbdeploy.addresses import IPAddress
from lbdeploy.components.frr import FRR_CONF, GATE, UNIT
from lbdeploy.components.notify import ANYCAST_NOTIFY, WITHDRAWN
from lbdeploy.components.notify import ANYCAST_TAG as TAG
from lbdeploy.core.anycast import AnycastState
from lbdeploy.core.bgp import AnycastStatus, PeerStatus, canonical
from lbdeploy.core.facts import Facts, ServiceFact
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Command, cmd

ADVERTISED = "bgp-advertised "  # + peer: the section of one peer's Adj-RIB-Out
FAMILIES = {"ipv4Unicast": 4, "ipv6Unicast": 6}
# frr.conf's `network` lines, with their address family: "ipv4 198.51.100.10/32".
NETWORKS = '$1 == "address-family" {af = $2} $1 == "network" {print af, $2}'


def status_lines(anycast: AnycastState) -> Script:
    """One round trip: the sessions, BFD, each peer's advertised routes, the withdrawal flag.

    The script is the same on every node, so it asks about every router any node has;
    a node without that router answers FRR's "No such neighbor" warning, read as nothing.
    """
    s = session_lines(anycast)
    for address, version in peers_of(anycast):
        s.section(ADVERTISED + address).probe(
            _vtysh(f"show bgp ipv{version} unicast neighbors {address} advertised-routes json")
        )
    s.section("anycast-withdrawn").probe(cmd("if [ -e {flag} ]; then echo yes; fi", flag=WITHDRAWN))
    return s


def session_lines(anycast: AnycastState) -> Script:
    """The sessions and BFD alone: what `up` polls until every session is up."""
    s = Script().section("bgp").probe(_vtysh("show bgp summary json"))
    if anycast.bfd is not None:
        s.section("bfd").probe(_vtysh("show bfd peers json"))
    return s


def peers_of(anycast: AnycastState) -> list[tuple[str, int]]:
    """Every router of any node, once: (address, family)."""
    found = {(str(p.address), p.version) for s in anycast.speakers for p in s.peers}
    return sorted(found)


def advertised_lines(anycast: AnycastState, node: str) -> Script:
    """`node`'s sessions and each of its peers' advertised routes: what withdraw polls."""
    s = Script().section("bgp").probe(_vtysh("show bgp summary json"))
    for peer in anycast.speaker(node).peers:
        s.section(ADVERTISED + str(peer.address)).probe(
            _vtysh(
                f"show bgp ipv{peer.version} unicast neighbors {peer.address}"
                " advertised-routes json"
            )
        )
    return s


def connections_lines(vips: tuple[IPAddress, ...]) -> Script:
    """Established TCP connections whose local address is each VIP: 'VIP COUNT' lines."""
    s = Script().section("connections")
    for vip in vips:
        where = f"[{vip}]" if vip.version == 6 else str(vip)
        s.probe(
            cmd(
                'echo {vip} "$(ss -Htn state established src {where} | wc -l)"',
                vip=str(vip),
                where=where,
            )
        )
    return s


def watch_lines(
    anycast: AnycastState, node: str, vip: IPAddress, present: bool, bound_s: float
) -> Script:
    """On the node: until `vip` is in every one of its routers' advertised routes (or in
    none), at most `bound_s`: 'done START END' or 'timeout START END', in ms of its clock.

    Timed on the node, so SSH adds nothing; one look is one vtysh per router (about
    0.05 s each), which is the resolution. The caller's script sets `start` (ms) first.
    """
    key = f'"{vip}/{32 if vip.version == 4 else 128}"'
    look = Command(())
    count = 0
    for peer in anycast.speaker(node).peers:
        if peer.version != vip.version:
            continue
        command = (
            f"show bgp ipv{peer.version} unicast neighbors {peer.address} advertised-routes json"
        )
        look = look + cmd(
            "if vtysh -c {command} | grep -qF {key}; then n=$((n + 1)); fi; ",
            command=command,
            key=key,
        )
        count += 1
    done = cmd("if [ $n -eq {count} ]; then", count=count if present else 0)
    return (
        Script()
        .section("watch")
        .line(
            cmd("while :; do n=0; ")
            + look
            + done
            + cmd(
                " echo done $start $(date +%s%3N); break; fi;"
                " if [ $(($(date +%s%3N) - start)) -gt {bound} ]; then"
                " echo timeout $start $(date +%s%3N); break; fi; sleep 0.02; done",
                bound=int(bound_s * 1000),
            )
        )
    )


def started() -> Command:
    """The start of a timing by `watch_lines`: now, in ms of the node's clock."""
    return cmd("start=$(date +%s%3N)")


def _vtysh(command: str) -> Command:
    return cmd(
        "if systemctl is-active -q {unit}; then vtysh -c {command}; fi",
        unit=UNIT,
        command=command,
    )


@dataclass(frozen=True)
class Session:
    """One BGP session as `show bgp summary json` reports it."""

    peer: str
    afi: str  # ipv4Unicast, ipv6Unicast
    remote_as: str  # a number, or "1.10" in asdot notation (10.x)
    state: str  # Established, Active, Connect, Idle, "Idle (Admin)", ...
    sent: int  # prefixes sent (pfxSnt; 0 when the session is not up)
    uptime_s: int | None  # since the last change, up or down

    @property
    def up(self) -> bool:
        return self.state == "Established"


def parse_bgp_summary(lines: list[str]) -> list[Session]:
    """`show bgp summary json`: {"ipv4Unicast": {"peers": {ADDR: {...}}}, "ipv6Unicast": ...}."""
    sessions = []
    for afi, summary in _json(lines).items():
        if afi not in FAMILIES or not isinstance(summary, dict):
            continue
        for peer, fields in summary.get("peers", {}).items():
            if not isinstance(fields, dict):
                continue
            msec = fields.get("peerUptimeMsec")
            sent = fields.get("pfxSnt")
            sessions.append(
                Session(
                    peer=canonical(peer),
                    afi=afi,
                    remote_as=str(fields.get("remoteAs", "")),
                    state=str(fields.get("state", "unknown")),
                    sent=sent if isinstance(sent, int) else 0,
                    uptime_s=msec // 1000 if isinstance(msec, int) else None,
                )
            )
    return sessions


def parse_bfd_peers(lines: list[str]) -> dict[str, str]:
    """`show bfd peers json`: a list of {"peer": ADDR, "status": "up"|"down"|"init"|...}."""
    text = "\n".join(lines).strip()
    data = json.loads(text) if text else []
    if not isinstance(data, list):
        return {}
    return {
        canonical(str(p["peer"])): str(p.get("status", "unknown"))
        for p in data
        if isinstance(p, dict) and "peer" in p
    }


def parse_advertised(lines: list[str]) -> tuple[str, ...]:
    """`show bgp ipvN unicast neighbors X advertised-routes json`: the prefixes' addresses.

    {"advertisedRoutes": {"198.51.100.10/32": {...}}, "totalPrefixCounter": 1, ...};
    a peer this node lacks, or a family it does not carry: {"warning": "No such ..."}.
    """
    routes = _json(lines).get("advertisedRoutes", {})
    return tuple(canonical(prefix) for prefix in routes) if isinstance(routes, dict) else ()


def advertised(sections: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """Each peer asked about → the addresses this node advertises to it."""
    return {
        canonical(name[len(ADVERTISED) :]): parse_advertised(lines)
        for name, lines in sections.items()
        if name.startswith(ADVERTISED)
    }


def peer_statuses(anycast: AnycastState, sections: dict[str, list[str]]) -> tuple[PeerStatus, ...]:
    """Each session of the node with its BFD state and the anycast VIPs announced over it."""
    bfd = parse_bfd_peers(sections.get("bfd", []))
    sent = advertised(sections)
    vips = {str(v) for v in anycast.vips}
    return tuple(
        PeerStatus(
            peer=s.peer,
            family=FAMILIES[s.afi],
            state=s.state,
            uptime_s=s.uptime_s,
            sent=s.sent,
            bfd=bfd.get(s.peer),
            announced=tuple(v for v in sent.get(s.peer, ()) if v in vips),
        )
        for s in parse_bgp_summary(sections.get("bgp", []))
    )


def anycast_status(
    anycast: AnycastState, facts: Facts, sections: dict[str, list[str]]
) -> AnycastStatus:
    """A node's anycast side from its facts and its status sections."""
    absent = ServiceFact("absent", "absent", 0)
    on_lo = {str(a.ip) for a in facts.addresses.get("lo", ())}
    return AnycastStatus(
        frr=facts.services.get(UNIT, absent).active,
        gate=facts.services.get(GATE, absent).active,
        on_lo=tuple(str(v) for v in anycast.vips if str(v) in on_lo),
        withdrawn="".join(sections.get("anycast-withdrawn", [])).strip() == "yes",
        peers=peer_statuses(anycast, sections),
    )


def announcement_lines(withdraw: bool) -> Script:
    """Withdraw every anycast VIP from the routers (or announce it again), keeping it on
    lo; the flag says so to `status`, the gate and the next frr-reload; the notify
    handler logs it, writes the metric and sends the alert."""
    state = "withdrawn" if withdraw else "announced"
    flag = cmd("touch {flag}" if withdraw else "rm -f {flag}", flag=WITHDRAWN)
    notify = cmd(
        "if [ -x {notify} ]; then {notify} {state} withdraw; else logger -t {tag} {message}; fi",
        notify=ANYCAST_NOTIFY,
        state=state,
        tag=TAG,
        message=f"{state} the anycast VIPs (lbdeploy withdraw)",
    )
    return Script().run(networks_command(withdraw)).run(flag).run(notify)


def networks_command(withdraw: bool) -> Command:
    """`no network X` (or `network X`) at runtime for every `network` line of frr.conf.

    bgpd sends the withdrawal at once (0.24 s to the router, measured on 8.4.4), where
    a route-map change waits for bgpd's route-map delay timer (5 s by default,
    `RMAP_DEFAULT_UPDATE_TIMER` at 8.4.4 and 10.3). The VIP stays on lo, so the packets
    of a flow that still arrive are served. The networks come from frr.conf (`router
    bgp` without its ASN selects the one instance), so a VIP added meanwhile is covered.
    vtysh stops at the first failing line, hence one call per network; withdrawing
    twice ("Can't find static route specified", exit 1) is no error. A stopped FRR
    announces nothing, so there is nothing to take out: `restart --service frr` of a
    failed FRR goes on (vtysh's "failed to connect to any daemons" stopped it; lab).
    """
    return cmd(
        "if systemctl is-active -q {unit}; then verb={verb}; awk {program} {conf} |"
        " while read -r af net; do"
        ' out=$(vtysh -c "conf t" -c "router bgp" -c "address-family $af unicast"'
        ' -c "$verb $net" 2>&1) || case $out in'
        ' *"Can\'t find static route"*) ;; *) echo "$out" >&2; exit 1 ;; esac; done; fi',
        unit=UNIT,
        verb="no network" if withdraw else "network",
        program=NETWORKS,
        conf=FRR_CONF,
    )


def _json(lines: list[str]) -> dict[str, Any]:
    text = "\n".join(lines).strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
