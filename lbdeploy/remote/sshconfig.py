"""A node's SSH route as OpenSSH would take it: ~/.ssh/config aliases and ProxyJump chains.

Pure: the parsed ssh_config comes in, hops come out. Precedence is OpenSSH's (the first
value obtained wins): what the inventory says explicitly for the node, then for every
node, then the ssh_config entry, then lbdeploy's defaults. Every hop of a ProxyJump
chain is a host of its own, looked up in the same config, and its host key is checked
like the target's (`ssh.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko

from lbdeploy.errors import UsageError

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


def load_config(path: Path | None) -> paramiko.SSHConfig:
    """The operator's ssh_config, read once with the inventory; none is an empty config."""
    if path is None or not path.exists():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_text(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the SSH config {path}: {exc}") from None
    except Exception as exc:  # paramiko's parser raises plain exceptions on bad lines
        raise UsageError(f"{path}: not a valid SSH config: {exc}") from None


def _split_jump(spec: str) -> tuple[str | None, str, int | None]:
    """'[user@]host[:port]' of a ProxyJump item (an IPv6 host in brackets)."""
    user, _, rest = spec.rpartition("@")
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail.removeprefix(":")
    else:
        host, _, port = rest.partition(":")
    return (user or None), host, (int(port) if port.isdigit() else None)


def _hop(config: paramiko.SSHConfig, alias: str, explicit: Explicit) -> Hop:
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


def route(config: paramiko.SSHConfig, alias: str, explicit: Explicit) -> tuple[Hop, ...]:
    """The hops to reach `alias`, jump hosts first, the node last."""
    target = _hop(config, alias, explicit)
    jump = config.lookup(alias).get("proxyjump", "none")
    hops = []
    if jump.lower() != "none":
        for item in jump.split(","):
            user, host, port = _split_jump(item.strip())
            hops.append(_hop(config, host, Explicit(user=user, port=port)))
    return (*hops, target)
