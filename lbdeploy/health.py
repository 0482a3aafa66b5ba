"""Is the pair serving? Pure verdicts from addresses and probes, for `up`, `status`, `verify`."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface

from lbdeploy.desired import NodeState
from lbdeploy.facts import Facts, ServiceFact, split_sections

Addresses = dict[str, dict[str, tuple[IPv4Interface, ...]]]  # node -> interface -> addresses
Probes = dict[str, dict[str, bool]]  # node -> "vip:port" -> answers


def vip_holders(states: list[NodeState], addresses: Addresses) -> dict[str, list[str]]:
    """Each VIP (as text) and the nodes whose public interface carries it."""
    holders: dict[str, list[str]] = {}
    for state in states:
        iface = state.interface.name
        held = {a.ip for a in addresses.get(state.name, {}).get(iface, ())}
        for role in state.vrrp:
            holders.setdefault(str(role.vip), [])
            if role.vip in held:
                holders[str(role.vip)].append(state.name)
    return holders


def pair_problems(
    states: list[NodeState],
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
    holders = vip_holders(states, addresses)
    first = states[0]
    for role in first.vrrp:
        vip = str(role.vip)
        held_by = holders.get(vip, [])
        expected = expect_on or role.preferred_master
        any_holder = expect_on is None and (role.nopreempt or expected in standby)
        if not held_by:
            problems.append(f"no node holds VIP {vip}")
        elif len(held_by) > 1:
            problems.append(f"VIP {vip} is held by {' and '.join(held_by)} (split brain)")
        elif not any_holder and held_by[0] != expected:
            problems.append(f"VIP {vip} is on {held_by[0]}, expected {expected}")
        else:
            for svc in first.services:
                if str(svc.vip or first.default_vip) != vip:
                    continue
                target = f"{vip}:{svc.port}"
                if not probes.get(held_by[0], {}).get(target, False):
                    problems.append(f"nothing answers on {target} (service {svc.name})")
    return problems


# --- status: extra sections of the facts script, and what they mean -------------------

KEEPALIVED_DATA = "/tmp/keepalived.data"


def status_lines(state: NodeState) -> tuple[str, ...]:
    """Sections `status` adds to the facts round trip: versions, VRRP states, servers."""
    section = "echo '@@lbdeploy {}'".format
    http = [
        f"if ip -4 -o addr show | grep -q ' inet {svc.vip or state.default_vip}/'; then"
        f" code=$(timeout 3 bash -c 'exec 3<>/dev/tcp/{svc.vip or state.default_vip}/{svc.port}"
        f' && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && head -c 12 <&3\' 2>/dev/null'
        " | cut -c10-12);"
        f' echo "{svc.vip or state.default_vip}:{svc.port} ${{code:-none}}"; fi'
        for svc in state.services
        if svc.mode == "http"
    ]
    return (
        section("haproxy-version"),
        "haproxy -v 2>/dev/null | head -1",
        section("vrrp"),
        # SIGUSR1 makes keepalived dump its state; wait (bounded) until the file settles.
        "pid=$(cat /run/keepalived.pid 2>/dev/null)",
        'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then',
        f'  rm -f {KEEPALIVED_DATA}; kill -USR1 "$pid"; i=0; last=-1',
        "  while [ $i -lt 40 ]; do",
        f"    size=$(stat -c %s {KEEPALIVED_DATA} 2>/dev/null || echo -1)",
        '    [ "$size" -gt 0 ] && [ "$size" = "$last" ] && break',
        "    last=$size; i=$((i+1)); sleep 0.05",
        "  done",
        '  awk \'/VRRP Instance = /{n=$4} /^ *State = /{if (n != "") {print n, $3; n=""}}\''
        f" {KEEPALIVED_DATA}",
        "fi",
        section("servers"),
        "echo 'show stat' | socat -t 2 stdio unix-connect:/run/haproxy/admin.sock 2>/dev/null"
        " | cut -d, -f1,2,18",
        section("http"),
        *http,
    )


@dataclass(frozen=True)
class NodeStatus:
    """One node of the running pair, as `status` shows it."""

    node: str
    error: str | None = None
    vrrp: dict[str, str] = field(default_factory=dict)  # instance -> MASTER/BACKUP/FAULT
    holds: tuple[str, ...] = ()
    haproxy: str = "unknown"
    keepalived: str = "unknown"
    haproxy_version: str = ""
    servers: tuple[tuple[str, str, str], ...] = ()  # (service, server, UP/DOWN/...)
    standby: bool = False
    drift: tuple[str, ...] = ()
    http: dict[str, str] = field(default_factory=dict)  # "vip:port" -> HTTP status or none
    tcp: dict[str, bool] = field(default_factory=dict)  # "vip:port" -> a connect succeeded


def parse_vrrp_states(lines: list[str]) -> dict[str, str]:
    return dict(line.split(None, 1) for line in lines if len(line.split()) == 2)


def parse_servers(lines: list[str]) -> tuple[tuple[str, str, str], ...]:
    """`show stat` CSV cut to proxy,server,status: real servers only, stats proxy left out."""
    rows = []
    for line in lines:
        parts = line.split(",")
        real = len(parts) == 3 and parts[1] not in ("FRONTEND", "BACKEND", "svname")
        if real and not line.startswith("#") and parts[0] != "stats":
            rows.append((parts[0], parts[1], parts[2]))
    return tuple(rows)


def node_status(state: NodeState, facts: Facts, raw: str, drift: tuple[str, ...]) -> NodeStatus:
    sections = split_sections(raw)
    iface = facts.addresses.get(state.interface.name, ())
    held = {a.ip for a in iface}
    version = " ".join(sections.get("haproxy-version", [""])[:1]).split(" - ")[0]
    return NodeStatus(
        node=state.name,
        vrrp=parse_vrrp_states(sections.get("vrrp", [])),
        holds=tuple(str(r.vip) for r in state.vrrp if r.vip in held),
        haproxy=facts.services.get("haproxy", ServiceFact("absent", "absent", 0)).active,
        keepalived=facts.services.get("keepalived", ServiceFact("absent", "absent", 0)).active,
        haproxy_version=version.removeprefix("HAProxy version ").split(" ")[0],
        servers=parse_servers(sections.get("servers", [])),
        standby=facts.standby,
        drift=drift,
        http=dict(line.split(None, 1) for line in sections.get("http", []) if " " in line),
        tcp=dict(facts.probes),
    )


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


def verify_problems(
    states: list[NodeState],
    statuses: list[NodeStatus],
    answers: dict[str, str],
) -> list[str]:
    """Why the pair does not serve, by name; empty when verify passes.

    `answers` maps "vip:port" to "ok" or what went wrong, as seen from wherever the
    VIP could be reached (the operator's machine, else the node holding it).
    """
    problems = [f"{s.node}: {s.error}" for s in statuses if s.error]
    reachable = [s for s in statuses if not s.error]
    for vip, held_by in _holders_from(statuses, states).items():
        if not held_by and len(reachable) == len(statuses):
            problems.append(f"no node holds VIP {vip}")
        elif len(held_by) > 1:
            problems.append(f"split brain: VIP {vip} is held by {' and '.join(held_by)}")
    for status in reachable:
        if status.haproxy != "active":
            problems.append(f"{status.node}: haproxy is {status.haproxy}")
    for state in states[:1]:
        for svc in state.services:
            target = f"{svc.vip or state.default_vip}:{svc.port}"
            answer = answers.get(target, "not checked")
            if answer != "ok":
                problems.append(f"service {svc.name} on {target}: {answer}")
    return problems


def _holders_from(statuses: list[NodeStatus], states: list[NodeState]) -> dict[str, list[str]]:
    holders: dict[str, list[str]] = {str(r.vip): [] for r in states[0].vrrp}
    for status in statuses:
        for vip in status.holds:
            holders.setdefault(vip, []).append(status.node)
    return holders
