"""Is the pair serving? Pure verdicts from addresses, probes and status, for up/status/verify."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from lbdeploy.addresses import IPInterface
from lbdeploy.core.bgp import AnycastStatus, node_problems, unannounced
from lbdeploy.core.desired import PairState
from lbdeploy.core.vrrp import VRRP_NICE


@dataclass(frozen=True)
class LoadedCert:
    """A certificate as one node's HAProxy holds it in memory."""

    sha1: str  # upper-case hex, as HAProxy prints it
    not_after: str  # e.g. "Nov 25 17:00:00 2027 GMT"

    def days_left(self, now: datetime | None = None) -> int | None:
        try:
            when = datetime.strptime(self.not_after, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
        except ValueError:
            return None
        return (when - (now or datetime.now(UTC))).days


Addresses = dict[str, dict[str, tuple[IPInterface, ...]]]  # node -> interface -> addresses
Probes = dict[str, dict[str, bool]]  # node -> "vip:port" -> answers
ServerRow = tuple[str, str, str]  # (service, server, status as HAProxy says it)
Servers = dict[str, tuple[ServerRow, ...]]  # node -> its haproxy's servers
READY = ("UP", "no check")  # "UP 1/3" is going down, "DOWN 1/2" coming up: not settled


def parse_servers(lines: list[str]) -> tuple[ServerRow, ...]:
    """`show stat` CSV cut to proxy,server,status: real servers only, stats proxy left out."""
    rows = []
    for line in lines:
        parts = line.split(",")
        real = len(parts) == 3 and parts[1] not in ("FRONTEND", "BACKEND", "svname")
        if real and not line.startswith("#") and parts[0] != "stats":
            rows.append((parts[0], parts[1], parts[2]))
    return tuple(rows)


def servers_behind_vips(
    pair: PairState, holders: dict[str, list[str]], servers: Servers
) -> dict[str, tuple[ServerRow, ...]]:
    """Each service's servers as the haproxy of the node holding its (first held) VIP sees them."""
    out = {}
    for svc in pair.services:
        single = [h for vip in svc.vips if len(h := holders.get(str(vip), [])) == 1]
        speakers = [h[0] for h in single]
        anycast = pair.anycast.vips if pair.anycast is not None else ()
        if not speakers and all(vip in anycast for vip in svc.vips):
            # Served by every node at once: the first that reports its servers speaks.
            speakers = sorted(n for n in servers if servers[n])
        rows = servers.get(speakers[0], ()) if speakers else ()
        out[svc.name] = tuple(r for r in rows if r[0] == svc.name)
    return out


def servers_ready(rows: dict[str, tuple[ServerRow, ...]]) -> bool:
    return all(row[2] in READY for service in rows.values() for row in service)


def describe_servers(rows: dict[str, tuple[ServerRow, ...]]) -> list[str]:
    """'web: 2/2 servers UP', naming the others: what `up` ends with."""
    lines = []
    for service, found in rows.items():
        up = [r for r in found if r[2] in READY]
        others = ", ".join(f"{r[1]} {r[2]}" for r in found if r[2] not in READY)
        lines.append(
            f"{service}: {len(up)}/{len(found)} servers UP" + (f" ({others})" if others else "")
        )
    return lines


def vip_holders(pair: PairState, nodes: list[str], addresses: Addresses) -> dict[str, list[str]]:
    """Each VIP (as text) and the nodes whose public interface carries it."""
    holders: dict[str, list[str]] = {str(v.vip): [] for v in pair.vips}
    for node in nodes:
        held = {a.ip for a in addresses.get(node, {}).get(pair.interface.name, ())}
        for vip in pair.vips:
            if vip.vip in held:
                holders[str(vip.vip)].append(node)
    return holders


def pair_problems(
    pair: PairState,
    nodes: list[str],
    addresses: Addresses,
    probes: Probes,
    standby: frozenset[str] = frozenset(),
    expect_on: str | None = None,
) -> list[str]:
    """What keeps the pair from serving as planned; empty when it serves.

    A VIP belongs on `expect_on` if given, else on its preferred master; when that
    node is on standby (`lbdeploy switchover`) or the VIP is nopreempt, any one
    holder will do.
    """
    problems = []
    holders = vip_holders(pair, nodes, addresses)
    for vip in pair.vips:
        held_by = holders[str(vip.vip)]
        expected = expect_on or vip.preferred_master
        any_holder = expect_on is None and (vip.nopreempt or expected in standby)
        if not held_by:
            problems.append(f"no node holds VIP {vip.vip}")
        elif len(held_by) > 1:
            problems.append(f"VIP {vip.vip} is held by {' and '.join(held_by)} (split brain)")
        elif not any_holder and held_by[0] != expected:
            problems.append(f"VIP {vip.vip} is on {held_by[0]}, expected {expected}")
        else:
            for svc in pair.services_on(vip.vip):
                target = svc.target(vip.vip)
                if not probes.get(held_by[0], {}).get(target, False):
                    problems.append(f"nothing answers on {target} (service {svc.name})")
    return problems + anycast_serving_problems(pair, nodes, addresses, probes)


def anycast_serving_problems(
    pair: PairState, nodes: list[str], addresses: Addresses, probes: Probes
) -> list[str]:
    """Every node holds every anycast VIP on lo (the gate is open: FRR announces it) and
    answers on it; empty without anycast."""
    if pair.anycast is None:
        return []
    problems = []
    for node in nodes:
        on_lo = {a.ip for a in addresses.get(node, {}).get("lo", ())}
        for vip in pair.anycast.vips:
            if vip not in on_lo:
                problems.append(f"anycast VIP {vip} is not on lo of {node} (not announced)")
                continue
            for svc in pair.services_on(vip):
                target = svc.target(vip)
                if not probes.get(node, {}).get(target, False):
                    problems.append(f"nothing answers on {target} on {node} (service {svc.name})")
    return problems


@dataclass(frozen=True)
class NodeStatus:
    """One node of the running pair, as `status` shows it."""

    node: str
    error: str | None = None
    vrrp: dict[str, str] = field(default_factory=dict)  # instance -> MASTER/BACKUP/FAULT
    vrrp_nice: int | None = None  # keepalived's VRRP process's nice value, if it runs
    holds: tuple[str, ...] = ()
    haproxy: str = "unknown"
    keepalived: str = "unknown"
    haproxy_version: str = ""
    servers: tuple[tuple[str, str, str], ...] = ()  # (service, server, UP/DOWN/...)
    standby: bool = False
    drift: tuple[str, ...] = ()
    http: dict[str, str] = field(default_factory=dict)  # "vip:port" -> HTTP status or none
    tcp: dict[str, bool] = field(default_factory=dict)  # "vip:port" -> a connect succeeded
    certs: dict[str, LoadedCert] = field(default_factory=dict)  # file -> what HAProxy holds
    anycast: AnycastStatus | None = None  # sessions, BFD, announcements (anycast pairs)
    sync: dict[str, str] = field(default_factory=dict)  # peer node -> EST or last status


def answer_from_holder(holder: NodeStatus | None, target: str, mode: str) -> str:
    """'ok' or why not, as the node holding the VIP saw `target` from inside."""
    if holder is None:
        return "unreachable from here, and no node holds the VIP to ask"
    if mode == "http":
        code = holder.http.get(target, "none")
        if code.isdigit():
            return "ok" if int(code) < 500 else f"HTTP {code} (seen from {holder.node})"
        return f"no HTTP answer on {target}, from here or from {holder.node}"
    if holder.tcp.get(target):
        return "ok"
    return f"nothing answers on {target}, from here or from {holder.node}"


def _vrrp_splits(
    pair: PairState, statuses: list[NodeStatus], holders: dict[str, list[str]]
) -> list[str]:
    """Two MASTERs of one instance by keepalived's own word (VRRP between the nodes cut),
    where the addresses do not already show the VIP on both."""
    found = []
    for vip in pair.vips:
        masters = [s.node for s in statuses if s.vrrp.get(vip.name) == "MASTER"]
        if len(masters) > 1 and len(holders.get(str(vip.vip), [])) < 2:
            found.append(
                f"split brain: VRRP instance {vip.name} (VIP {vip.vip}) is MASTER on"
                f" {' and '.join(masters)}"
            )
    return found


def verify_problems(
    pair: PairState,
    statuses: list[NodeStatus],
    answers: dict[str, str],
) -> list[str]:
    """Why the pair does not serve, by name; empty when verify passes.

    `answers` maps "vip:port" to "ok" or what went wrong, as seen from wherever the
    VIP could be reached (the operator's machine, else the node holding it).
    """
    problems = [f"{s.node}: {s.error}" for s in statuses if s.error]
    reachable = [s for s in statuses if not s.error]
    holders: dict[str, list[str]] = {str(v.vip): [] for v in pair.vips}
    for status in statuses:
        for vip in status.holds:
            holders.setdefault(vip, []).append(status.node)
    for vip, held_by in holders.items():
        if not held_by and len(reachable) == len(statuses):
            problems.append(f"no node holds VIP {vip}")
        elif len(held_by) > 1:
            problems.append(f"split brain: VIP {vip} is held by {' and '.join(held_by)}")
    problems += _vrrp_splits(pair, statuses, holders)
    for status in reachable:
        if status.haproxy != "active":
            problems.append(f"{status.node}: haproxy is {status.haproxy}")
        if status.vrrp_nice is not None and status.vrrp_nice > VRRP_NICE:
            problems.append(
                f"{status.node}: keepalived's VRRP process runs at nice {status.vrrp_nice},"
                f" not {VRRP_NICE}, so a busy node can delay its adverts and the backup take"
                " over while the master runs: its vrrp_priority did not take (keepalived needs"
                " CAP_SYS_NICE; a container must be given it)"
            )
    problems += anycast_problems(pair, reachable)
    problems += sync_problems(pair, reachable)
    for svc in pair.services:
        for _, target in svc.targets:
            answer = answers.get(target, "not checked")
            if answer != "ok":
                problems.append(f"service {svc.name} on {target}: {answer}")
    return problems


def anycast_problems(pair: PairState, reachable: list[NodeStatus]) -> list[str]:
    """Every node whose HAProxy serves announces every anycast VIP to every peer whose
    session is up, and answers on it; no other node announces; each VIP has a route."""
    anycast = pair.anycast
    if anycast is None:
        return []
    problems = []
    seen = {s.node: s.anycast for s in reachable if s.anycast is not None}
    for status in reachable:
        if status.anycast is None:
            continue
        problems += node_problems(anycast, status.node, status.haproxy, status.anycast)
        for vip in anycast.vips:
            if str(vip) not in status.anycast.announcing:
                continue
            for svc in pair.services_on(vip):
                # HTTPS is not asked over HTTP from inside: a TCP connect must do there.
                mode = "tcp" if svc.tls else svc.mode
                if not answers_locally(status, svc.target(vip), mode):
                    problems.append(
                        f"{status.node}: announces {vip} but {svc.target(vip)}"
                        f" does not answer there (service {svc.name})"
                    )
    return problems + unannounced(anycast, seen)


def answers_locally(status: NodeStatus, target: str, mode: str) -> bool:
    """Whether the node's own probe of `target` (a VIP local to it) was answered."""
    if mode == "http":
        code = status.http.get(target, "none")
        return code.isdigit() and int(code) < 500
    return status.tcp.get(target, False)


def sync_problems(pair: PairState, reachable: list[NodeStatus]) -> list[str]:
    """Every running HAProxy syncs its stick tables with every other running one: without
    the session, a failover loses the clients' stickiness and rate counters. A node down
    or unread is reported once, as itself."""
    if pair.peers is None:
        return []
    seen = {s.node: s.sync for s in reachable if s.haproxy == "active"}
    return unsynced(sorted(seen), seen, f"; TCP port {pair.peers.port} between the nodes")


def unsynced(names: list[str], seen: dict[str, dict[str, str]], hint: str = "") -> list[str]:
    """Each node's missing peers session with each other node, by name (`seen`: each
    node's `parse_peers`); a node not in `seen` could not be read."""
    left = []
    for node in names:
        if node not in seen:
            left.append(f"{node}: its HAProxy peers could not be read")
            continue
        for peer in names:
            if peer != node and seen[node].get(peer) != "EST":
                why = session_down(seen[node].get(peer))
                left.append(f"{node}: stick tables not synced with {peer} ({why}{hint})")
    return left


def session_down(state: str | None) -> str:
    """Why a peers session is not there, from `parse_peers`' word for it."""
    if state is None:
        return "HAProxy does not list it as a peer"
    return f"no HAProxy peers session, last handshake status {state}"
