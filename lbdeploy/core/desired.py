"""Inventory → Desired: the pair-wide state once, and each node's part of it.

Pair-wide values (VIPs, services with their resolved VIP, stats) are resolved here
once, in `PairState`; a `NodeState` holds only what differs per node, so no stage
reads pair data back through one of the nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_interface
from pathlib import Path
from typing import Literal

from lbdeploy.addresses import IPAddress, IPInterface, hostport
from lbdeploy.core.acme import placeholder
from lbdeploy.core.anycast import AnycastState, derive_anycast
from lbdeploy.core.persistence import PeersState, StickTable, derive_peers, derive_table
from lbdeploy.core.targets import NoSshConfig, SshConfig, SshTarget, ssh_target
from lbdeploy.core.vrrp import VipState, VrrpRole, derive_vips, role, sync_groups
from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.inventory.model import Interface, Inventory
from lbdeploy.inventory.proxy import HaproxySettings, Server, Service, Stats
from lbdeploy.inventory.tls import CertChain, KeyFile
from lbdeploy.scripts.shell import Secret

# The sysctl that lets HAProxy bind a VIP the node does not hold, per family (4, 6).
NONLOCAL_BIND = ("net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind")
CERTS_DIR = "/etc/haproxy/certs"  # root only: HAProxy reads keys before dropping privileges


def certificate_path(service: str, index: int) -> str:
    return f"{CERTS_DIR}/{service}-{index}.pem"


@dataclass(frozen=True)
class TlsBundle:
    """A certificate, its chain and its key, as one PEM file on the node (HAProxy's `crt`)."""

    path: str  # on the node
    chain: CertChain
    key: KeyFile

    @property
    def content(self) -> str:
        return self.chain.pem + self.key.pem.reveal()

    @property
    def about(self) -> str:
        """What the file holds, safe to print: names, issuer, expiry, leaf fingerprint."""
        chain = self.chain
        return (
            f"certificate for {', '.join(chain.names) or '?'}, issued by {chain.issuer},"
            f" expires {chain.not_after:%Y-%m-%d} ({chain.days_left()} days),"
            f" leaf sha256:{chain.fingerprint[:16]}"
        )

    @property
    def key_lines(self) -> tuple[Secret, ...]:
        """Each base64 line of the key, masked wherever output could quote one."""
        lines = self.key.pem.reveal().splitlines()
        return tuple(Secret(line) for line in lines if line and not line.startswith("-----"))


@dataclass(frozen=True)
class ServiceState:
    """A service with its VIP resolved (its own, else the first): `vip` is never None."""

    name: str
    vips: tuple[IPAddress, ...]
    port: int
    mode: Literal["http", "tcp"]
    balance: str
    health_check: str | None
    options: tuple[str, ...]
    servers: tuple[Server, ...]
    tls: tuple[TlsBundle, ...] = ()
    redirect_http: bool = False
    hsts: int | None = None
    alpn: str = "h2,http/1.1"
    table: StickTable | None = None  # stickiness and/or rate limit, synced by the peers
    acme_names: tuple[str, ...] = ()  # its one certificate comes from the `acme:` CA

    def target(self, vip: IPAddress) -> str:
        """'vip:port' ('[vip]:port' for IPv6), the key of probes and answers."""
        return hostport(vip, self.port)

    @property
    def targets(self) -> tuple[tuple[IPAddress, str], ...]:
        """Each VIP the service listens on, with its target."""
        return tuple((vip, self.target(vip)) for vip in self.vips)


@dataclass(frozen=True)
class PairState:
    """What every node of the pair shares; rendered into each node's files."""

    interface: Interface
    network: IPv4Network | None
    network6: IPv6Network | None
    vips: tuple[VipState, ...]
    services: tuple[ServiceState, ...]
    stats: Stats | None
    haproxy: HaproxySettings
    webhook: Secret | None = None
    anycast: AnycastState | None = None  # VIPs every node announces over BGP (FRR)
    peers: PeersState | None = None  # the nodes syncing stick tables, when a service has one
    acme: AcmeSettings | None = None

    @property
    def acme_services(self) -> tuple[ServiceState, ...]:
        """Services whose certificate comes from the ACME CA (HTTP-01 on their port 80)."""
        return tuple(s for s in self.services if s.acme_names)

    def vip(self, text: str) -> VipState | None:
        return next((v for v in self.vips if str(v.vip) == text), None)

    @property
    def probe_targets(self) -> list[tuple[IPAddress, int]]:
        """Every VIP:port a service listens on."""
        return [(vip, s.port) for s in self.services for vip in s.vips]

    def services_on(self, vip: IPAddress) -> tuple[ServiceState, ...]:
        return tuple(s for s in self.services if vip in s.vips)

    def interfaces(self, node: NodeState) -> tuple[IPInterface, ...]:
        """The node's public addresses with their prefixes: '10.0.0.5/24', 'fd00::5/64'."""
        found = []
        for address in node.addresses:
            network = self.network if address.version == 4 else self.network6
            assert network is not None, "checked by check_inventory"
            found.append(ip_interface(f"{address}/{network.prefixlen}"))
        return tuple(found)

    @property
    def sync_groups(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return sync_groups(self.vips)

    @property
    def sysctls(self) -> tuple[str, ...]:
        """The nonlocal_bind switch of each VIP family: HAProxy binds VIPs it does not hold."""
        versions = {v.vip.version for v in self.vips}
        versions |= {v.version for v in self.anycast.vips} if self.anycast else set()
        return tuple(key for key, v in zip(NONLOCAL_BIND, (4, 6), strict=True) if v in versions)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """Every secret the inventory holds: masked in every output."""
        found = [v.auth_pass for v in self.vips if v.auth_pass is not None]
        if self.stats is not None:
            found.append(self.stats.password)
        if self.webhook is not None:
            found.append(self.webhook)
        found += [line for b in self.bundles for line in b.key_lines]
        found += self.anycast.secrets if self.anycast is not None else ()
        return tuple(found)

    @property
    def bundles(self) -> tuple[TlsBundle, ...]:
        return tuple(b for s in self.services for b in s.tls)


@dataclass(frozen=True)
class NodeState:
    """What one node should end up with beyond the pair's shared state."""

    name: str
    ssh: SshTarget
    addresses: tuple[IPAddress, ...]  # on the public interface: IPv4 first, then IPv6
    vrrp: tuple[VrrpRole, ...]

    @property
    def address(self) -> IPAddress:
        """The address that names the node in output: its IPv4 one, else its IPv6 one."""
        return self.addresses[0]

    def address_of(self, version: int) -> IPAddress | None:
        return next((a for a in self.addresses if a.version == version), None)

    @property
    def is_master(self) -> bool:
        """Preferred holder of at least one VIP: the roll touches it last on a serving pair,
        first on a cold one (`roll.py`)."""
        return any(role.instance.preferred_master == self.name for role in self.vrrp)


@dataclass(frozen=True)
class Desired:
    """The whole desired state: the pair, and its nodes in inventory order."""

    pair: PairState
    nodes: tuple[NodeState, ...]

    def only(self, names: list[str]) -> Desired:
        """The same pair with a subset of its nodes (`--node`)."""
        return Desired(self.pair, tuple(n for n in self.nodes if n.name in names))


# An ACME certificate as the state directory holds it, by its names (`ops/acme_store.read_issued`).
Issued = Mapping[tuple[str, ...], tuple[CertChain, KeyFile]]


def _tls(svc: Service, issued: Issued) -> tuple[TlsBundle, ...]:
    """The files form as given; an ACME certificate from the state directory, else a
    placeholder (`render`, `validate`: nothing issued is read there)."""
    if svc.acme_names:
        names = svc.acme_names
        chain, key = issued.get(names) or placeholder(names)
        return (TlsBundle(certificate_path(svc.name, 0), chain, key),)
    return tuple(
        TlsBundle(certificate_path(svc.name, i), pair.cert, pair.key)
        for i, pair in enumerate(svc.tls_files)
    )


def derive_pair(inv: Inventory, issued: Issued | None = None) -> PairState:
    """Resolve pair-wide values once: each VIP's preferred master, each service's VIP."""
    vips = derive_vips(inv)
    anycast = derive_anycast(inv)
    default = vips[0].vip if vips else inv.anycast[0].vip  # checked: one or the other
    services = tuple(
        ServiceState(
            name=svc.name,
            vips=tuple(svc.vip or (default,)),
            port=svc.port,
            mode=svc.mode,
            balance=svc.balance,
            health_check=svc.health_check,
            options=tuple(svc.options),
            servers=tuple(svc.servers),
            tls=_tls(svc, issued or {}),
            redirect_http=svc.redirect_http,
            hsts=svc.hsts,
            alpn=svc.alpn,
            table=derive_table(svc, tuple(svc.vip or (default,))),
            acme_names=svc.acme_names,
        )
        for svc in inv.services
    )
    webhook = inv.alerts.webhook if inv.alerts else None
    return PairState(
        inv.interface,
        inv.network,
        inv.network6,
        vips,
        services,
        inv.stats,
        inv.haproxy,
        webhook,
        anycast,
        derive_peers(inv),
        inv.acme,
    )


def derive(
    inv: Inventory,
    base_dir: Path,
    ssh_config: SshConfig | None = None,
    issued: Issued | None = None,
) -> Desired:
    """The pair and one NodeState per node; relative paths resolve against base_dir.

    The preferred master of a VIP (its `master`, else the first node) gets priority 254;
    the others follow in inventory order with 253, 252, ...
    """
    pair = derive_pair(inv, issued)
    names = list(inv.nodes)
    addresses: dict[str, tuple[IPAddress, ...]] = {
        name: tuple(a for a in (node.public_address, node.public_address6) if a is not None)
        for name, node in inv.nodes.items()
    }
    nodes = []
    for name in inv.nodes:
        assert addresses[name], "checked by check_inventory"
        ssh = ssh_target(inv, name, base_dir, ssh_config or NoSshConfig())
        roles = tuple(role(vip, names, name, addresses) for vip in pair.vips)
        nodes.append(NodeState(name, ssh, addresses[name], roles))
    return Desired(pair, tuple(nodes))
