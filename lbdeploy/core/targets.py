"""How the operator's machine reaches each node: its SSH route, resolved once per run.

Inventory values win over ~/.ssh/config, which wins over the defaults, as in OpenSSH.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko

from lbdeploy.inventory.model import Inventory
from lbdeploy.remote.sshconfig import Explicit, Hop, route


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


def ssh_target(
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
