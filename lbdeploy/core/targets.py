"""How the operator's machine reaches each node: its SSH route, as OpenSSH would take it.

Pure: a parsed ssh_config comes in (anything with OpenSSH-style `lookup`), hops come
out. Precedence is OpenSSH's (the first value obtained wins): what the inventory says
explicitly for the node, then for every node, then the ssh_config entry, then lbdeploy's
defaults. Every hop of a ProxyJump chain is a host of its own, looked up in the same
config (the first hop's own ProxyJump included), and its host key is checked like the
target's (`remote/connect.py`). What the file may hold is `core/sshconfig_check.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lbdeploy.errors import UsageError
from lbdeploy.inventory.model import Inventory


class SshConfig(Protocol):
    """paramiko.SSHConfig's one method lbdeploy uses (kept out of the pure core)."""

    def lookup(self, hostname: str) -> Mapping[str, Any]: ...


class NoSshConfig:
    """No ssh_config at all: every value comes from the inventory or the defaults."""

    def lookup(self, hostname: str) -> Mapping[str, Any]:
        return {}


DEFAULT_USER = "root"
DEFAULT_PORT = 22


@dataclass(frozen=True)
class Hop:
    """One SSH connection of a route: a jump host, or the node itself (the last hop)."""

    alias: str  # as written in the inventory or the ProxyJump line
    host: str
    port: int
    user: str
    identity_files: tuple[Path, ...]

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts lists this host under (as OpenSSH writes it)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class Explicit:
    """What the inventory says about a connection; None: not said, ask ssh_config."""

    user: str | None = None
    port: int | None = None
    identity_file: Path | None = None


def split_jump(item: str) -> tuple[str | None, str, int | None]:
    """One hop of a ProxyJump line, as OpenSSH reads it: '[user@]host[:port]' or
    'ssh://[user@]host[:port]', an IPv6 host in brackets ('[fd00::1]:2200'); the last '@'
    ends the user. ValueError says what is wrong (OpenSSH refuses the same items)."""
    spec = item.removeprefix("ssh://")
    user, at, rest = spec.rpartition("@")
    if at and not user:
        raise ValueError("an empty user before '@'")
    port: str | None = None
    bracketed = rest.startswith("[")
    if bracketed:
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError("an IPv6 host is written [address] or [address]:port")
        port = tail[1:] if tail else None
    elif rest.count(":") > 1:
        raise ValueError("an IPv6 host is written [address] or [address]:port")
    else:
        host, colon, after = rest.partition(":")
        port = after if colon else None
    if not host or any(c in host for c in ("/[] \t" if bracketed else "/:[] \t")):
        raise ValueError("no host, as [user@]host[:port]")
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"port {port!r} is not a number 1..65535")
    return (user or None), host, (int(port) if port else None)


def _hop(config: SshConfig, alias: str, explicit: Explicit) -> Hop:
    entry = config.lookup(alias)
    # OpenSSH reads a relative IdentityFile from the home directory.
    files = [Path.home() / Path(p).expanduser() for p in entry.get("identityfile", [])]
    return Hop(
        alias=alias,
        host=entry.get("hostname", alias),
        port=explicit.port or int(entry.get("port", DEFAULT_PORT)),
        user=explicit.user or entry.get("user", DEFAULT_USER),
        identity_files=(explicit.identity_file,) if explicit.identity_file else tuple(files),
    )


def route(
    config: SshConfig, alias: str, explicit: Explicit, via: tuple[str, ...] = ()
) -> tuple[Hop, ...]:
    """The hops to reach `alias`, jump hosts first, the node last.

    As OpenSSH takes them (`ssh -v` shows its `ssh -W ... -J ...` commands): each ProxyJump
    hop is reached through the hops before it, and the first one through its own ProxyJump
    line, if it has one; `via` holds the hosts being reached through this one (a loop).
    """
    if alias in via:
        chain = " -> ".join((*via, alias))
        raise UsageError(
            f"ssh_config: the ProxyJump lines loop ({chain}), as OpenSSH would forever; a jump"
            " host's own block, above `Host *`, can say `ProxyJump none`"
        )
    target = _hop(config, alias, explicit)
    jump = config.lookup(alias).get("proxyjump", "none")
    if jump.lower() == "none":
        return (target,)
    (user, host, port), *others = [split_jump(item.strip()) for item in jump.split(",")]
    first = route(config, host, Explicit(user=user, port=port), (*via, alias))
    hops = [_hop(config, h, Explicit(user=u, port=p)) for u, h, p in others]
    return (*first, *hops, target)


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


def resolve_path(path: str | None, base: Path) -> Path | None:
    """A path from the inventory: ~ expanded, relative to the inventory's folder."""
    if path is None:
        return None
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else base / expanded


def ssh_target(inv: Inventory, name: str, base_dir: Path, ssh_config: SshConfig) -> SshTarget:
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
