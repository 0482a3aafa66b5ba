"""Pure parsers of the facts script's sections: raw lines in, values out (tested on recorded
output, as pyinfra's facts `process()`)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface, ip_address

from lbdeploy.addresses import IPAddress, IPInterface


@dataclass(frozen=True)
class FileFact:
    sha256: str
    mode: int
    owner: str
    group: str


@dataclass(frozen=True)
class ServiceFact:
    active: str  # active, inactive, failed, activating, ...
    enabled: str  # enabled, disabled, masked, absent
    main_pid: int


def parse_files(lines: list[str]) -> dict[str, FileFact]:
    """'<sha256> <mode> <owner> <group> <path>' per existing file."""
    files = {}
    for line in lines:
        parts = line.split(" ", 4)
        if len(parts) == 5:
            sha, mode, owner, group, path = parts
            files[path] = FileFact(sha, int(mode, 8), owner, group)
    return files


def parse_applied(lines: list[str]) -> dict[str, str]:
    """'<sha256>  <path>' lines, as sha256sum writes them."""
    applied = {}
    for line in lines:
        sha, _, path = line.partition("  ")
        if sha and path:
            applied[path] = sha
    return applied


def parse_key_values(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def parse_packages(lines: list[str]) -> dict[str, str]:
    """dpkg-query lines 'name ii  version': only fully installed packages count."""
    installed = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "ii":
            installed[parts[0]] = parts[2]
    return installed


def parse_addresses(lines: list[str]) -> dict[str, tuple[IPInterface, ...]]:
    """`ip -o addr show` lines: '2: eth1    inet 10.0.0.5/24 brd ... scope global eth1',
    '2: eth1    inet6 fd00::5/64 scope global ...'; link-local IPv6 addresses left out."""
    found: dict[str, list[IPInterface]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("inet", "inet6"):
            iface = parts[1].split("@")[0]
            address = IPv4Interface(parts[3]) if parts[2] == "inet" else IPv6Interface(parts[3])
            if not address.ip.is_link_local or address.version == 4:
                found.setdefault(iface, []).append(address)
    return {k: tuple(v) for k, v in found.items()}


def parse_ssh_connection(lines: list[str]) -> IPAddress | None:
    """$SSH_CONNECTION is 'client_ip client_port server_ip server_port'."""
    parts = " ".join(lines).split()
    if len(parts) == 4:
        try:
            return ip_address(parts[2].partition("%")[0])
        except ValueError:
            return None
    return None


def parse_services(lines: list[str]) -> dict[str, ServiceFact]:
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            name, active, enabled, pid = parts
            out[name] = ServiceFact(active, enabled, int(pid) if pid.isdigit() else 0)
    return out


def parse_int(lines: list[str], default: int = 0) -> int:
    text = "".join(lines).strip()
    return int(text) if text.isdigit() else default


def parse_probes(lines: list[str]) -> dict[str, bool]:
    out = {}
    for line in lines:
        target, _, state = line.partition(" ")
        if state in ("up", "down"):
            out[target] = state == "up"
    return out


def parse_pending(lines: list[str]) -> dict[str, str]:
    """'<service> <reload|restart>' per service an interrupted run left unreloaded."""
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1] in ("reload", "restart"):
            out[parts[0]] = parts[1]
    return out


def parse_priorities(lines: list[str]) -> dict[str, int]:
    """'<vrrp instance> <priority>' from the live keepalived.conf."""
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out
