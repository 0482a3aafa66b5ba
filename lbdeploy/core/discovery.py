"""What `lbdeploy init` learns from the nodes and the inventory it proposes; pure.

Each node is asked, in one read-only round trip, for its name, its IPv4 addresses, its
default route, whether the VIP already answers, and which VRRP routers speak on the
segment (a few seconds of listening with perl, which every Debian has). The interface
whose prefix holds the VIP is the public one; a virtual_router_id nobody else uses is
picked (the pair's own, when it already runs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

from lbdeploy.core.facts import parse_addresses
from lbdeploy.core.vrrp import MASTER_PRIORITY
from lbdeploy.errors import UsageError
from lbdeploy.scripts.script import Script, split_sections
from lbdeploy.scripts.shell import cmd

LISTEN_SECONDS = 4
# VRRP adverts seen on any interface for a while: "<vrid> <source address>" per router.
_LISTEN = (
    "use Socket qw(:all); socket(my $s, PF_INET, SOCK_RAW, 112) or exit 0;"
    " for my $a (@ARGV) { setsockopt($s, IPPROTO_IP, IP_ADD_MEMBERSHIP,"
    " pack_ip_mreq(inet_aton('224.0.0.18'), inet_aton($a))) }"
    " my $end = time + {seconds}; my %seen; while (time < $end) { my $in = '';"
    " vec($in, fileno($s), 1) = 1; next unless select(my $r = $in, undef, undef, 0.5);"
    " recv($s, my $b, 2048, 0); my $h = (ord(substr($b, 0, 1)) & 15) * 4;"
    " my $src = join('.', unpack('C4', substr($b, 12, 4))); my $v = ord(substr($b, $h + 1, 1));"
    ' print "$v $src\\n" unless $seen{"$v $src"}++ }'
)


def init_script(vip: IPv4Address) -> Script:
    listen = _LISTEN.replace("{seconds}", str(LISTEN_SECONDS))
    return (
        Script()
        .section("hostname")
        .probe(cmd("hostname -s"))
        .section("addresses")
        .probe(cmd("ip -4 -o addr show"))
        .section("gateway")
        .probe(cmd("ip -4 route show default"))
        .section("vip")
        .probe(
            cmd(
                "if command -v ping >/dev/null 2>&1; then if ping -c 2 -W 1 {vip} >/dev/null 2>&1;"
                " then echo answers; else echo silent; fi; else echo unknown; fi",
                vip=str(vip),
            )
        )
        .section("vrrp")
        .probe(
            cmd(
                "perl -e {listen} $(ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1)",
                listen=listen,
            )
        )
    )


@dataclass
class Seen:
    """One node as init found it."""

    spec: str  # as given on the command line
    hostname: str
    addresses: dict[str, tuple[IPv4Interface, ...]]
    gateway: IPv4Address | None
    vip: str  # answers, silent, unknown
    adverts: set[tuple[int, IPv4Address]] = field(default_factory=set)


def parse_seen(spec: str, output: str) -> Seen:
    s = split_sections(output)
    gateway = None
    for line in s.get("gateway", []):
        match = re.search(r"default via (\S+)", line)
        if match:
            gateway = IPv4Address(match.group(1))
    adverts = set()
    for line in s.get("vrrp", []):
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            adverts.add((int(parts[0]), IPv4Address(parts[1])))
    return Seen(
        spec=spec,
        hostname="".join(s.get("hostname", [])).strip(),
        addresses={
            iface: tuple(a for a in found if isinstance(a, IPv4Interface))
            for iface, found in parse_addresses(s.get("addresses", [])).items()
        },
        gateway=gateway,
        vip="".join(s.get("vip", [])).strip() or "unknown",
        adverts=adverts,
    )


@dataclass(frozen=True)
class Proposal:
    names: tuple[str, ...]
    interface: str
    addresses: tuple[IPv4Interface, ...]
    gateway: IPv4Address | None
    vrid: int


def _public(seen: Seen, vip: IPv4Address) -> tuple[str, IPv4Interface]:
    for iface, addrs in seen.addresses.items():
        for addr in addrs:
            if vip in addr.network and addr.ip != vip and addr.network.prefixlen < 32:
                return iface, addr
    raise UsageError(f"{seen.spec}: no interface has a prefix that holds {vip}")


def _name(hostname: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", hostname).strip(".-_")[:60] or "node"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def propose(seen: list[Seen], vip: IPv4Address) -> Proposal:
    """The inventory's values from what the nodes said; refuse what cannot work."""
    publics = [_public(s, vip) for s in seen]
    interfaces = {iface for iface, _ in publics}
    if len(interfaces) != 1:
        found = ", ".join(f"{s.spec}: {i}" for s, (i, _) in zip(seen, publics, strict=True))
        raise UsageError(f"the VIP's prefix is on differently named interfaces ({found})")
    ours = {a.ip for _, a in publics}
    held = any(vip in {a.ip for a in addrs} for s in seen for addrs in s.addresses.values())
    if not held and any(s.vip == "answers" for s in seen):
        raise UsageError(f"{vip} already answers on the network: it is in use, pick a free one")
    own = sorted({v for s in seen for v, src in s.adverts if src in ours})
    used = {v for s in seen for v, src in s.adverts if src not in ours}
    free = [v for v in (*range(50, 256), *range(1, 50)) if v not in used]  # 50 first
    vrid = own[0] if own and own[0] not in used else free[0]
    network = publics[0][1].network
    gateway = seen[0].gateway if seen[0].gateway in network else None
    taken: set[str] = set()
    names = tuple(_name(s.hostname or f"node{i + 1}", taken) for i, s in enumerate(seen))
    return Proposal(names, interfaces.pop(), tuple(a for _, a in publics), gateway, vrid)


def render_inventory(
    proposal: Proposal,
    specs: list[tuple[str | None, str, int | None]],
    vip: IPv4Address,
    ssh: dict[str, str],
) -> str:
    """A commented inventory; secrets come from the environment, never written here."""
    first, rest = proposal.names[0], proposal.names[1:]
    lines = [
        "# Written by `lbdeploy init`; check it, then: lbdeploy validate, lbdeploy up.",
        f"# Roles derived: {first} is the preferred MASTER (priority {MASTER_PRIORITY}),"
        + "".join(f" {n} BACKUP ({MASTER_PRIORITY - 1 - i})," for i, n in enumerate(rest)).rstrip(
            ","
        ),
        "# Secrets are read from the environment: export LB_VRRP_PASS and LB_STATS_PASS.",
    ]
    if ssh:
        lines.append("ssh:")
        lines += [f"  {key}: {value}" for key, value in ssh.items()]
    lines.append("nodes:")
    for name, (user, host, port), addr in zip(
        proposal.names, specs, proposal.addresses, strict=True
    ):
        user_part = f", user: {user}" if user and user != ssh.get("user") else ""
        port_part = f", port: {port}" if port else ""
        lines.append(f"  {name}: {{host: {host}{port_part}{user_part}, address: {addr.ip}}}")
    gateway = f", gateway: {proposal.gateway}" if proposal.gateway else ""
    netmask = proposal.addresses[0].network.netmask
    lines += [
        f"interface: {{name: {proposal.interface}, netmask: {netmask}{gateway}}}",
        "vrrp:",
        f"  virtual_router_id: {proposal.vrid}   # no other VRRP router on the segment uses it",
        f"  vip: {vip}",
        "  auth_pass: {env: LB_VRRP_PASS}",
        "stats: {port: 8404, uri: /stats, user: admin, password: {env: LB_STATS_PASS}}",
        "services: []   # e.g.",
        "#  - name: web",
        "#    port: 80",
        "#    servers:",
        "#      - {name: web1, address: 192.0.2.21, port: 8080}",
    ]
    return "\n".join(lines) + "\n"


def parse_spec(spec: str) -> tuple[str | None, str, int | None]:
    """'[user@]host[:port]' as on an ssh command line."""
    user, _, rest = spec.rpartition("@")
    host, _, port = rest.partition(":")
    if not host or (port and not port.isdigit()):
        raise UsageError(f"{spec!r}: give a node as [user@]host[:port] or an ssh_config alias")
    return (user or None), host, (int(port) if port else None)
