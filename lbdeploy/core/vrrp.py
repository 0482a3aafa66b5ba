"""VRRP's part of the desired state: each VIP's instance, each node's role and priority.

Only VRRP VIPs are here; the pair's other kinds of VIP (anycast) derive elsewhere, and
nothing outside keepalived's component assumes every VIP has an instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbdeploy.addresses import IPAddress
from lbdeploy.inventory.model import Inventory
from lbdeploy.scripts.shell import Secret

# The highest priority short of the address owner's 255. A backup's skew time, what it
# waits after a master gives up (its priority-0 advert) and on top of three missed
# adverts, is (256 - priority)/256 s: 0.012 s at 253 where 100 waited 0.61 s. A lone
# master on a fresh pair, likewise, waits 3.01 s for its election, not 3.6 s.
MASTER_PRIORITY = 254

# keepalived's VRRP process runs at this nice value (`vrrp_priority`), so a node busy with
# traffic still sends and reads its adverts on time; `verify` checks that it took.
VRRP_NICE = -20


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
    advert_ms: int | None = None  # opt-in sub-second adverts: VRRPv3 for IPv4 too

    @property
    def version(self) -> int:
        """The VRRP version: 3 for an IPv6 VIP (VRRPv2 is IPv4 only) or sub-second adverts
        (VRRPv2 counts whole seconds), else keepalived's 2."""
        return 3 if self.vip.version == 6 or self.advert_ms is not None else 2

    @property
    def advert(self) -> str:
        """keepalived's advert_int, in seconds: '1', or '0.1' for advert_ms 100."""
        if self.advert_ms is None:
            return str(self.advert_int)
        return f"{self.advert_ms / 1000:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class VrrpRole:
    """This node's part in one VRRP instance."""

    instance: VipState
    state: Literal["MASTER", "BACKUP"]
    priority: int
    unicast_src: IPAddress | None
    unicast_peers: tuple[IPAddress, ...]


def instance_name(vrid: int, version: int, ipv4_vrids: set[int]) -> str:
    """keepalived's instance name, VI_50; VI6_50 for an IPv6 VIP whose VRID an IPv4 VIP
    also uses: the families' virtual routers "do not overlap" (RFC 5798, abstract) and
    keepalived compares VRIDs within a family, but its instance names must be unique."""
    return f"VI6_{vrid}" if version == 6 and vrid in ipv4_vrids else f"VI_{vrid}"


def sync_groups(vips: tuple[VipState, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """keepalived sync groups: (name, instances). The VIPs of both families that one
    node prefers move as one: none of them can be MASTER on a node unless all can, so
    a fault of one family's VRRP alone (IPv6 multicast filtered) makes no split brain."""
    groups = []
    for master in dict.fromkeys(v.preferred_master for v in vips):
        mine = [v for v in vips if v.preferred_master == master]
        if len({v.vip.version for v in mine}) == 2:
            groups.append((f"lbdeploy_{master}", tuple(v.name for v in mine)))
    return tuple(groups)


def role(
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


def derive_vips(inv: Inventory) -> tuple[VipState, ...]:
    """Each VRRP VIP's instance, once: its preferred master (`master`, else the first node)."""
    networks = {4: inv.network, 6: inv.network6}
    first = next(iter(inv.nodes))
    ipv4_vrids = {inst.virtual_router_id for inst in inv.vrrp if inst.vip.version == 4}
    vips = []
    for inst in inv.vrrp:
        network = networks[inst.vip.version]
        assert network is not None, "checked by check_inventory"
        vips.append(
            VipState(
                name=instance_name(inst.virtual_router_id, inst.vip.version, ipv4_vrids),
                virtual_router_id=inst.virtual_router_id,
                vip=inst.vip,
                prefix=network.prefixlen,
                preferred_master=inst.master or first,
                advert_int=inst.advert_int,
                nopreempt=inst.nopreempt,
                auth_pass=inst.auth_pass,
                unicast=inst.unicast,
                advert_ms=inst.advert_ms,
            )
        )
    return tuple(vips)
