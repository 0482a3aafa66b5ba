"""Inventory → NodeState: every per-node value derived once, so nothing is typed twice."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Literal

from lbdeploy.inventory.model import HaproxySettings, Interface, Inventory, Service, Stats
from lbdeploy.shell import Secret

MASTER_PRIORITY = 101


@dataclass(frozen=True)
class SshTarget:
    """How the operator's machine reaches a node."""

    host: str
    port: int
    user: str
    identity_file: Path | None
    known_hosts: Path
    connect_timeout: float

    @property
    def needs_sudo(self) -> bool:
        return self.user != "root"


@dataclass(frozen=True)
class VrrpRole:
    """This node's part in one VRRP instance."""

    name: str  # keepalived instance name, e.g. VI_50
    virtual_router_id: int
    vip: IPv4Address
    prefix: int
    state: Literal["MASTER", "BACKUP"]
    priority: int
    preferred_master: str
    advert_int: int
    nopreempt: bool
    auth_pass: Secret | None
    unicast_src: IPv4Address | None
    unicast_peers: tuple[IPv4Address, ...]


@dataclass(frozen=True)
class NodeState:
    """Everything one node should end up with; input of rendering and planning."""

    name: str
    ssh: SshTarget
    address: IPv4Address
    network: IPv4Network
    interface: Interface
    vrrp: tuple[VrrpRole, ...]
    services: tuple[Service, ...]
    stats: Stats | None
    haproxy: HaproxySettings
    default_vip: IPv4Address

    @property
    def is_master(self) -> bool:
        """Preferred holder of at least one VIP: rolling changes touch it last."""
        return any(role.preferred_master == self.name for role in self.vrrp)


def _resolve(path: str | None, base: Path) -> Path | None:
    if path is None:
        return None
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else base / expanded


def derive_states(inv: Inventory, base_dir: Path) -> list[NodeState]:
    """One NodeState per node, in inventory order; relative paths resolve against base_dir.

    The preferred master of a VIP (its `master`, else the first node) gets priority 101;
    the others follow in inventory order with 100, 99, ...
    """
    names = list(inv.nodes)
    network = inv.network
    assert network is not None, "checked by check_inventory"
    addresses = {name: node.public_address for name, node in inv.nodes.items()}
    states = []
    for name, node in inv.nodes.items():
        address = addresses[name]
        assert address is not None, "checked by check_inventory"
        roles = []
        for inst in inv.vrrp:
            master = inst.master or names[0]
            order = [master, *(n for n in names if n != master)]
            rank = order.index(name)
            # keepalived honours nopreempt only when every node starts as BACKUP.
            state: Literal["MASTER", "BACKUP"] = (
                "MASTER" if rank == 0 and not inst.nopreempt else "BACKUP"
            )
            roles.append(
                VrrpRole(
                    name=f"VI_{inst.virtual_router_id}",
                    virtual_router_id=inst.virtual_router_id,
                    vip=inst.vip,
                    prefix=network.prefixlen,
                    state=state,
                    priority=MASTER_PRIORITY - rank,
                    preferred_master=master,
                    advert_int=inst.advert_int,
                    nopreempt=inst.nopreempt,
                    auth_pass=inst.auth_pass,
                    unicast_src=address if inst.unicast else None,
                    unicast_peers=tuple(
                        a for n, a in addresses.items() if inst.unicast and n != name and a
                    ),
                )
            )
        ssh = SshTarget(
            host=node.host,
            port=node.port or inv.ssh.port,
            user=node.user or inv.ssh.user,
            identity_file=_resolve(node.identity_file or inv.ssh.identity_file, base_dir),
            known_hosts=_resolve(inv.ssh.known_hosts, base_dir) or Path(),
            connect_timeout=inv.ssh.connect_timeout,
        )
        states.append(
            NodeState(
                name=name,
                ssh=ssh,
                address=address,
                network=network,
                interface=inv.interface,
                vrrp=tuple(roles),
                services=tuple(inv.services),
                stats=inv.stats,
                haproxy=inv.haproxy,
                default_vip=inv.vrrp[0].vip,
            )
        )
    return states
