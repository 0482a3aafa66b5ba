"""Inventory → Desired: the pair-wide state once, and each node's part of it.

Pair-wide values (VIPs, services with their resolved VIP, stats) are resolved here
once, in `PairState`; a `NodeState` holds only what differs per node, so no stage
reads pair data back through one of the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Literal

from lbdeploy.inventory.model import HaproxySettings, Interface, Inventory, Server, Stats
from lbdeploy.inventory.tls import CertChain, KeyFile
from lbdeploy.paths import certificate_path
from lbdeploy.shell import Secret
from lbdeploy.sshconfig import Explicit, Hop, route
from lbdeploy.sshlib import paramiko

MASTER_PRIORITY = 101


@dataclass(frozen=True)
class SshTarget:
    """How the operator's machine reaches a node: its route (jump hosts, then the node)."""

    route: tuple[Hop, ...]
    known_hosts: Path
    connect_timeout: float

    @property
    def node(self) -> Hop:
        return self.route[-1]

    @property
    def host(self) -> str:
        return self.node.host

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def user(self) -> str:
        return self.node.user

    @property
    def identity_file(self) -> Path | None:
        return self.node.identity_files[0] if self.node.identity_files else None

    @property
    def needs_sudo(self) -> bool:
        return self.user != "root"


@dataclass(frozen=True)
class VipState:
    """One VIP and the VRRP instance that moves it, as the whole pair shares it."""

    name: str  # keepalived instance name, e.g. VI_50
    virtual_router_id: int
    vip: IPv4Address
    prefix: int
    preferred_master: str
    advert_int: int
    nopreempt: bool
    auth_pass: Secret | None
    unicast: bool


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
    vip: IPv4Address
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

    @property
    def target(self) -> str:
        """'vip:port', the key of probes and answers."""
        return f"{self.vip}:{self.port}"


@dataclass(frozen=True)
class PairState:
    """What every node of the pair shares; rendered into each node's files."""

    interface: Interface
    network: IPv4Network
    vips: tuple[VipState, ...]
    services: tuple[ServiceState, ...]
    stats: Stats | None
    haproxy: HaproxySettings
    webhook: Secret | None = None

    def vip(self, text: str) -> VipState | None:
        return next((v for v in self.vips if str(v.vip) == text), None)

    def services_on(self, vip: IPv4Address) -> tuple[ServiceState, ...]:
        return tuple(s for s in self.services if s.vip == vip)

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
    unicast_src: IPv4Address | None
    unicast_peers: tuple[IPv4Address, ...]


@dataclass(frozen=True)
class NodeState:
    """What one node should end up with beyond the pair's shared state."""

    name: str
    ssh: SshTarget
    address: IPv4Address
    vrrp: tuple[VrrpRole, ...]

    @property
    def is_master(self) -> bool:
        """Preferred holder of at least one VIP: rolling changes touch it last."""
        return any(role.instance.preferred_master == self.name for role in self.vrrp)


@dataclass(frozen=True)
class Desired:
    """The whole desired state: the pair, and its nodes in inventory order."""

    pair: PairState
    nodes: tuple[NodeState, ...]

    def only(self, names: list[str]) -> Desired:
        """The same pair with a subset of its nodes (`--node`)."""
        return Desired(self.pair, tuple(n for n in self.nodes if n.name in names))


def resolve_path(path: str | None, base: Path) -> Path | None:
    """A path from the inventory: ~ expanded, relative to the inventory's folder."""
    if path is None:
        return None
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else base / expanded


def derive_pair(inv: Inventory) -> PairState:
    """Resolve pair-wide values once: each VIP's preferred master, each service's VIP."""
    network = inv.network
    assert network is not None, "checked by check_inventory"
    first = next(iter(inv.nodes))
    vips = tuple(
        VipState(
            name=f"VI_{inst.virtual_router_id}",
            virtual_router_id=inst.virtual_router_id,
            vip=inst.vip,
            prefix=network.prefixlen,
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
            vip=svc.vip or vips[0].vip,
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
    return PairState(inv.interface, network, vips, services, inv.stats, inv.haproxy, webhook)


def _role(
    vip: VipState, names: list[str], name: str, addresses: dict[str, IPv4Address | None]
) -> VrrpRole:
    order = [vip.preferred_master, *(n for n in names if n != vip.preferred_master)]
    rank = order.index(name)
    # keepalived honours nopreempt only when every node starts as BACKUP.
    state: Literal["MASTER", "BACKUP"] = "MASTER" if rank == 0 and not vip.nopreempt else "BACKUP"
    return VrrpRole(
        instance=vip,
        state=state,
        priority=MASTER_PRIORITY - rank,
        unicast_src=addresses[name] if vip.unicast else None,
        unicast_peers=tuple(a for n, a in addresses.items() if vip.unicast and n != name and a),
    )


def _ssh_target(
    inv: Inventory, name: str, base_dir: Path, ssh_config: paramiko.SSHConfig
) -> SshTarget:
    """Inventory values win over ssh_config, which wins over the defaults (as in OpenSSH)."""
    node, defaults = inv.nodes[name], inv.ssh
    given = defaults.model_fields_set
    explicit = Explicit(
        user=node.user or (defaults.user if "user" in given else None),
        port=node.port or (defaults.port if "port" in given else None),
        identity_file=resolve_path(node.identity_file or defaults.identity_file, base_dir),
    )
    return SshTarget(
        route=route(ssh_config, node.host, explicit),
        known_hosts=resolve_path(defaults.known_hosts, base_dir) or Path(),
        connect_timeout=defaults.connect_timeout,
    )


def derive(inv: Inventory, base_dir: Path, ssh_config: paramiko.SSHConfig | None = None) -> Desired:
    """The pair and one NodeState per node; relative paths resolve against base_dir.

    The preferred master of a VIP (its `master`, else the first node) gets priority 101;
    the others follow in inventory order with 100, 99, ...
    """
    pair = derive_pair(inv)
    names = list(inv.nodes)
    addresses = {name: node.public_address for name, node in inv.nodes.items()}
    nodes = []
    for name in inv.nodes:
        address = addresses[name]
        assert address is not None, "checked by check_inventory"
        ssh = _ssh_target(inv, name, base_dir, ssh_config or paramiko.SSHConfig())
        roles = tuple(_role(vip, names, name, addresses) for vip in pair.vips)
        nodes.append(NodeState(name, ssh, address, roles))
    return Desired(pair, tuple(nodes))
