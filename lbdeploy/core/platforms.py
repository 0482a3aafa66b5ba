"""What a node is (OS, network stack, daemon versions) and what lbdeploy supports there.

The keyword table below is what the templates use, each with the first HAProxy or
keepalived version that has it and where that was checked (docs and sources at the
release tags; Debian's own binaries where it mattered). The floor is the highest of
those minimums: a node whose daemons are older is refused before anything changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Stack = Literal["ifupdown", "netplan", "networkmanager", "unknown"]
Version = tuple[int, ...]


@dataclass(frozen=True)
class Keyword:
    text: str
    haproxy: Version = ()
    keepalived: Version = ()
    source: str = ""


KEYWORDS = (
    Keyword(
        "http-check send meth GET uri PATH",
        haproxy=(2, 2),
        source="haproxy doc/configuration.txt: absent at v2.0.0, present at v2.2.0",
    ),
    Keyword(
        "stats socket ... expose-fd listeners (seamless reload; implicit from 2.6)",
        haproxy=(1, 8),
        source="haproxy configuration.txt v2.0.0; mworker sockpair commit 2be557f7c (2.6)",
    ),
    Keyword(
        "default-server init-addr last,libc,none",
        haproxy=(1, 7),
        source="haproxy configuration.txt 'init-addr' at v2.0.0 and v3.0.0",
    ),
    Keyword(
        "show info Pid: a new worker proves a reload",
        haproxy=(1, 8),
        source="haproxy src/stats.c INF_PID; systemd reload is asynchronous (kill -USR2)",
    ),
    Keyword(
        "vrrp_track_file NAME { file; weight 0; init_file }",
        keepalived=(2, 0),
        source="keepalived commit d0fa2d6d (init_file), keepalived.conf.5 at v2.0.19/v2.1.0",
    ),
    Keyword(
        "vrrp_script interval/timeout in whole seconds, fall/rise",
        keepalived=(2, 0),
        source="keepalived.conf.5 'VRRP script(s)' at v2.0.19 and v2.3.3",
    ),
    Keyword(
        "enable_script_security + script_user",
        keepalived=(2, 0),
        source="keepalived.conf.5 at v2.0.19; lib/notify.c at v2.2.7",
    ),
    Keyword(
        "bind/server [IPv6]:PORT (an IPv6 VIP, stats address or server)",
        haproxy=(2, 2),
        source="haproxy -c accepts it on 2.6.12 (Debian 12) and 3.0.11 (Debian 13, lab);"
        " str2sa_range has parsed '[addr]:port' since long before the floor",
    ),
    Keyword(
        "vrrp_instance ... version 3 (an IPv6 VIP)",
        keepalived=(2, 0),
        source="keepalived -t 2.2.7 accepts it (exit 5 for an unknown keyword); VRRPv3 since"
        " 1.2.15 (ChangeLog); lab: 2.2.7 and 2.3.3 elect over IPv6",
    ),
    Keyword(
        "vrrp_sync_group NAME { group { INSTANCE ... } }",
        keepalived=(2, 0),
        source="keepalived.conf.5 at v2.0.19; all members must be able to be MASTER"
        " (acassen/keepalived#2169)",
    ),
    Keyword(
        "keepalived -t: config test (any non-zero exit is a failure)",
        keepalived=(2, 1),
        source="keepalived.8 and main.c config_test_exit at v2.0.19..v2.3.3 (codes changed in 2.2)",
    ),
)
HAPROXY_FLOOR: Version = max(k.haproxy for k in KEYWORDS)
KEEPALIVED_FLOOR: Version = max(k.keepalived for k in KEYWORDS)

# What each release ships, so a node can be judged before anything is installed.
RELEASES: dict[tuple[str, str], tuple[str, str]] = {
    ("debian", "11"): ("2.2.9", "2.1.5"),
    ("debian", "12"): ("2.6.12", "2.2.7"),
    ("debian", "13"): ("3.0.11", "2.3.3"),
    ("ubuntu", "20.04"): ("2.0.33", "2.0.19"),
    ("ubuntu", "22.04"): ("2.4.14", "2.2.4"),
    ("ubuntu", "24.04"): ("2.8.5", "2.2.8"),
}


def version(text: str | None) -> Version | None:
    """'1:2.2.7-1+b2' → (2, 2, 7): Debian's epoch and revision dropped."""
    if not text:
        return None
    match = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _dotted(value: Version) -> str:
    return ".".join(map(str, value))


@dataclass(frozen=True)
class Platform:
    """One node as its facts describe it; rendering and planning read it."""

    os_id: str = "debian"
    os_version: str = "12"
    stack: Stack = "ifupdown"
    apt: bool = True
    haproxy: str | None = None  # the installed version, when there is one
    keepalived: str | None = None
    promex: bool | None = None  # haproxy built with the Prometheus exporter (None: unknown)

    def expected(self) -> tuple[str | None, str | None]:
        """Installed versions, else what this release ships (None: unknown release)."""
        shipped = RELEASES.get((self.os_id, self.os_version), (None, None))
        return self.haproxy or shipped[0], self.keepalived or shipped[1]

    def describe(self) -> str:
        haproxy, keepalived = self.expected()
        state = "" if self.haproxy else " (to be installed)"
        return (
            f"{self.os_id} {self.os_version or '?'}, network: {self.stack},"
            f" haproxy {haproxy or '?'}, keepalived {keepalived or '?'}{state}"
        )


def network_stack(signals: dict[str, str]) -> Stack:
    """Which stack manages interfaces: netplan with networkd first (Ubuntu), then ifupdown."""
    netplan = signals.get("netplan") == "yes" and signals.get("netplan_nm") != "yes"
    if netplan and signals.get("networkd") == "active":
        return "netplan"
    if signals.get("ifup") == "yes":
        return "ifupdown"
    if signals.get("networkmanager") == "active" or signals.get("netplan_nm") == "yes":
        return "networkmanager"
    return "unknown"


def detect(
    os_release: dict[str, str], signals: dict[str, str], packages: dict[str, str]
) -> Platform:
    return Platform(
        os_id=os_release.get("ID", "unknown"),
        os_version=os_release.get("VERSION_ID", ""),
        stack=network_stack(signals),
        apt=signals.get("apt-get") == "yes",
        haproxy=packages.get("haproxy"),
        keepalived=packages.get("keepalived"),
        promex={"yes": True, "no": False}.get(signals.get("promex", "")),
    )


def problems(platform: Platform, interface: str, address: str, manage: bool) -> list[str]:
    """Why lbdeploy must not touch this node; empty when it may."""
    if not platform.apt:
        return ["not a Debian-family system (no apt-get): lbdeploy manages Debian and Ubuntu"]
    found = []
    if manage and platform.stack not in ("ifupdown", "netplan"):
        what = {
            "networkmanager": "NetworkManager manages the network here",
            "unknown": "neither ifupdown nor netplan with systemd-networkd manages the network",
        }[platform.stack]
        found.append(
            f"{what}; lbdeploy writes an ifupdown stanza or a netplan file (systemd-networkd)"
            f" only. Give {interface} its address {address} yourself (e.g. nmcli connection add"
            f" type ethernet ifname {interface} ipv4.method manual ipv4.addresses {address}),"
            " then set `interface: {manage: false}` in the inventory"
        )
    haproxy, keepalived = (version(v) for v in platform.expected())
    for name, have, floor in (
        ("HAProxy", haproxy, HAPROXY_FLOOR),
        ("keepalived", keepalived, KEEPALIVED_FLOOR),
    ):
        if have is not None and have < floor:
            found.append(
                f"{name} {_dotted(have)} on {platform.os_id} {platform.os_version} is older than"
                f" {_dotted(floor)}, the oldest lbdeploy's configs are written for"
            )
    return found
