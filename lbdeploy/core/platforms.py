"""What a node is (OS, network stack, daemon versions) and what lbdeploy supports there.

Each component that runs a daemon declares a `Daemon`: the keywords its templates use,
each with the first version that has it and where that was checked (docs and sources at
the release tags; Debian's own binaries where it mattered), and what each release
ships. The floor is the highest of those minimums: a node whose daemons are older is
refused before anything changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Stack = Literal["ifupdown", "netplan", "networkmanager", "unknown"]
Version = tuple[int, ...]


@dataclass(frozen=True)
class Keyword:
    """A keyword a template uses, the first version that has it, and where that was checked."""

    text: str
    since: Version
    source: str = ""


@dataclass(frozen=True)
class Daemon:
    """A daemon as lbdeploy judges a node's copy: its configs' floor, what releases ship.

    Each component that runs one declares it (`components/*.py`): its keyword table is
    what its templates use, and the floor is the highest of their first versions.
    """

    name: str  # as people write it: "HAProxy"
    package: str
    keywords: tuple[Keyword, ...]
    # What each release ships, so a node can be judged before anything is installed.
    shipped: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def floor(self) -> Version:
        return max(k.since for k in self.keywords)


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
    installed: Mapping[str, str] = field(default_factory=dict)  # package -> version
    # What the facts' platform section said (`key=value`), the components' probes included:
    # each component reads its own (`components/haproxy.has_promex`).
    signals: Mapping[str, str] = field(default_factory=dict)

    def expected(self, daemon: Daemon) -> str | None:
        """The installed version, else what this release ships (None: unknown release)."""
        return self.installed.get(daemon.package) or daemon.shipped.get(
            (self.os_id, self.os_version)
        )

    def describe(self, daemons: Sequence[Daemon]) -> str:
        versions = "".join(f", {d.package} {self.expected(d) or '?'}" for d in daemons)
        missing = any(d.package not in self.installed for d in daemons)
        return f"{self.os_id} {self.os_version or '?'}, network: {self.stack}{versions}" + (
            " (to be installed)" if missing else ""
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
        installed=dict(packages),
        signals=dict(signals),
    )


def problems(
    platform: Platform, daemons: Sequence[Daemon], interface: str, address: str, manage: bool
) -> list[str]:
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
    for daemon in daemons:
        have = version(platform.expected(daemon))
        if have is not None and have < daemon.floor:
            found.append(
                f"{daemon.name} {_dotted(have)} on {platform.os_id} {platform.os_version} is"
                f" older than {_dotted(daemon.floor)}, the oldest lbdeploy's configs are written"
                " for"
            )
    return found
