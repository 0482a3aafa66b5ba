"""Inventory → Desired: the pair-wide state once, and each node's part of it.

Pair-wide values (VIPs, services with their resolved VIP, stats) are resolved here
once, in `PairState`; a `NodeState` holds only what differs per node, so no stage
reads pair data back through one of the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_interface
from pathlib import Path
from typing import Literal

import paramiko

from lbdeploy.addresses import IPAddress, IPInterface, hostport
from lbdeploy.inventory.model import HaproxySettings, Interface, Inventory, Server, Stats
from lbdeploy.inventory.tls import CertChain, KeyFile
from lbdeploy.paths import NONLOCAL_BIND, certificate_path
from lbdeploy.shell import Secret
from lbdeploy.targets import SshTarget, ssh_target

# The highest priority short of the address owner's 255. A backup's skew time, what it
# waits after a master gives up (its priority-0 advert) and on top of three missed
# adverts, is (256 - priority)/256 s: 0.012 s at 253 where 100 waited 0.61 s. A lone
# master on a fresh pair, likewise, waits 3.01 s for its election, not 3.6 s.
MASTER_PRIORITY = 254


@dataclass(frozen=True)
class VipState:
    """One VIP and the VRRP instance that moves it, as the whole pair shares it."""

    name: str  # keepalived instance name, e.g. VI_50 (VI6_50 beside an IPv4 VI_50)
    virtual_router_id: int
    vip: IPAddress
    prefix: int
    preferred_master: str
    advert_int: int
    nopreempt: bool
    auth_pass: Secret | None
    unicast: bool

    @property
    def version(self) -> int:
        """The VRRP version: 3 for an IPv6 VIP (VRRPv2 is IPv4 only), else keepalived's 2."""
        return 3 if self.vip.version == 6 else 2


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

    def vip(self, text: str) -> VipState | None:
        return next((v for v in self.vips if str(v.vip) == text), None)

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
        """keepalived sync groups: (name, instances). The VIPs of both families that one
        node prefers move as one: none of them can be MASTER on a node unless all can, so
        a fault of one family's VRRP alone (IPv6 multicast filtered) makes no split brain."""
        groups = []
        for master in dict.fromkeys(v.preferred_master for v in self.vips):
            mine = [v for v in self.vips if v.preferred_master == master]
            if len({v.vip.version for v in mine}) == 2:
                groups.append((f"lbdeploy_{master}", tuple(v.name for v in mine)))
        return tuple(groups)

    @property
    def sysctls(self) -> tuple[str, ...]:
        """The nonlocal_bind switch of each VIP family: HAProxy binds VIPs it does not hold."""
        versions = {v.vip.version for v in self.vips}
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
        return tuple(found)

    @property
    def bundles(self) -> tuple[TlsBundle, ...]:
        return tuple(b for s in self.services for b in s.tls)


@dataclass(frozen=True)
class VrrpRole:
    """This node's part in one VRRP instance."""

    instance: VipState
    state: Literal["MASTER", "BACKUP"]
    priority: int
    unicast_src: IPAddress | None
    unicast_peers: tuple[IPAddress, ...]


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


def derive_pair(inv: Inventory) -> PairState:
    """Resolve pair-wide values once: each VIP's preferred master, each service's VIP."""
    networks = {4: inv.network, 6: inv.network6}
    first = next(iter(inv.nodes))
    ipv4_vrids = {inst.virtual_router_id for inst in inv.vrrp if inst.vip.version == 4}
    vips = tuple(
        VipState(
            name=_instance_name(inst.virtual_router_id, inst.vip.version, ipv4_vrids),
            virtual_router_id=inst.virtual_router_id,
            vip=inst.vip,
            prefix=_prefix(networks[inst.vip.version]),
            preferred_master=inst.master or first,
            advert_int=inst.advert_int,
            nopreempt=inst.nopreempt,
            auth_pass=inst.auth_pass,
            unicast=inst.unicast,
        )
        for inst in inv.vrrp
    )
    services = tuple(
        ServiceState(
            name=svc.name,
            vips=tuple(svc.vip or (vips[0].vip,)),
            port=svc.port,
            mode=svc.mode,
            balance=svc.balance,
            health_check=svc.health_check,
            options=tuple(svc.options),
            servers=tuple(svc.servers),
            tls=tuple(
                TlsBundle(certificate_path(svc.name, i), pair.cert, pair.key)
                for i, pair in enumerate(svc.tls or ())
            ),
            redirect_http=svc.redirect_http,
            hsts=svc.hsts,
            alpn=svc.alpn,
        )
        for svc in inv.services
    )
    webhook = inv.alerts.webhook if inv.alerts else None
    return PairState(
        inv.interface, inv.network, inv.network6, vips, services, inv.stats, inv.haproxy, webhook
    )


def _instance_name(vrid: int, version: int, ipv4_vrids: set[int]) -> str:
    """keepalived's instance name, VI_50; VI6_50 for an IPv6 VIP whose VRID an IPv4 VIP
    also uses: the families' virtual routers "do not overlap" (RFC 5798, abstract) and
    keepalived compares VRIDs within a family, but its instance names must be unique."""
    return f"VI6_{vrid}" if version == 6 and vrid in ipv4_vrids else f"VI_{vrid}"


def _prefix(network: IPv4Network | IPv6Network | None) -> int:
    assert network is not None, "checked by check_inventory"
    return network.prefixlen


def _role(
    vip: VipState, names: list[str], name: str, addresses: dict[str, tuple[IPAddress, ...]]
) -> VrrpRole:
    order = [vip.preferred_master, *(n for n in names if n != vip.preferred_master)]
    rank = order.index(name)
    # keepalived honours nopreempt only when every node starts as BACKUP.
    state: Literal["MASTER", "BACKUP"] = "MASTER" if rank == 0 and not vip.nopreempt else "BACKUP"
    return VrrpRole(
        instance=vip,
        state=state,
        priority=MASTER_PRIORITY - rank,
        unicast_src=_of_family(addresses[name], vip.vip.version) if vip.unicast else None,
        unicast_peers=tuple(
            a
            for n, found in addresses.items()
            if vip.unicast and n != name and (a := _of_family(found, vip.vip.version))
        ),
    )


def _of_family(addresses: tuple[IPAddress, ...], version: int) -> IPAddress | None:
    """Unicast peers speak the VIP's family: IPv6 adverts for an IPv6 VIP."""
    return next((a for a in addresses if a.version == version), None)


def derive(inv: Inventory, base_dir: Path, ssh_config: paramiko.SSHConfig | None = None) -> Desired:
    """The pair and one NodeState per node; relative paths resolve against base_dir.

    The preferred master of a VIP (its `master`, else the first node) gets priority 254;
    the others follow in inventory order with 253, 252, ...
    """
    pair = derive_pair(inv)
    names = list(inv.nodes)
    addresses: dict[str, tuple[IPAddress, ...]] = {
        name: tuple(a for a in (node.public_address, node.public_address6) if a is not None)
        for name, node in inv.nodes.items()
    }
    nodes = []
    for name in inv.nodes:
        assert addresses[name], "checked by check_inventory"
        ssh = ssh_target(inv, name, base_dir, ssh_config or paramiko.SSHConfig())
        roles = tuple(_role(vip, names, name, addresses) for vip in pair.vips)
        nodes.append(NodeState(name, ssh, addresses[name], roles))
    return Desired(pair, tuple(nodes))
