"""Open a node's SSH route through Fabric, every hop's host key verified before any change.

Fabric accepts unknown host keys by default (AutoAddPolicy), and the jump hosts it
opens from ~/.ssh/config get no host-key check at all. Here the route comes from
`sshconfig.route` (resolved once, when the inventory is loaded), each hop is a Fabric
connection with the inventory's known_hosts and a RejectPolicy, and each tunnels the
next: a jump host whose key is unknown stops the run as surely as the node's would.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import fabric
import paramiko

from lbdeploy.credentials import Credentials
from lbdeploy.desired import SshTarget
from lbdeploy.errors import HostKeyError, KeyFileError, Unreachable
from lbdeploy.known_hosts import KnownHosts, load_known_hosts
from lbdeploy.shell import Secret
from lbdeploy.ssh import Session
from lbdeploy.sshconfig import Hop


def check_identity(node: str, path: Path) -> None:
    """Refuse a missing key, or one others can read, before any connection (as OpenSSH does)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(node, f"identity file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(node, f"cannot read identity file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise KeyFileError(
            node,
            f"permissions {stat.S_IMODE(mode):04o} for identity file {path} are too open: a"
            f" private key must not be readable by others (chmod 600 {path}); OpenSSH refuses"
            " it too",
        )


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """OpenSSH's accept-new: an unknown host's key is recorded; a changed one still stops."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a") as handle:
            handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def _connection(
    node: str,
    hop: Hop,
    target: SshTarget,
    gateway: fabric.Connection | None,
    trusted: KnownHosts,
    passphrase: Secret | None,
    accept_new: bool = False,
) -> fabric.Connection:
    kwargs: dict[str, object] = {
        "banner_timeout": target.connect_timeout,
        "auth_timeout": target.connect_timeout,
    }
    if hop.identity_files:
        for path in hop.identity_files:
            check_identity(node, path)
        kwargs["key_filename"] = [str(p) for p in hop.identity_files]
        kwargs["look_for_keys"] = False  # the agent is still asked
    if passphrase is not None:
        kwargs["passphrase"] = passphrase.reveal()
    conn = fabric.Connection(
        host=hop.host,
        user=hop.user,
        port=hop.port,
        connect_timeout=max(1, round(target.connect_timeout)),
        connect_kwargs=kwargs,
        gateway=gateway,
        # The route is ours: Fabric must not read ssh_config and add hops of its own.
        config=fabric.Config(ssh_config=paramiko.SSHConfig(), lazy=True),
    )
    policy = AcceptNew(trusted.path) if accept_new else paramiko.RejectPolicy()
    conn.client.set_missing_host_key_policy(policy)
    trusted.install(conn.client)
    return conn


def _open(node: str, hop: Hop, conn: fabric.Connection, trusted: KnownHosts, via: str) -> None:
    where = f"{hop.where}{via}"
    try:
        conn.open()
        transport = conn.client.get_transport()
        assert transport is not None
        if trusted.is_revoked(transport.get_remote_server_key()):
            raise HostKeyError(node, hop, trusted.path, via=via, revoked=True)
    except paramiko.BadHostKeyException:
        raise HostKeyError(node, hop, trusted.path, via=via, changed=True) from None
    except paramiko.PasswordRequiredException:
        raise KeyFileError(
            node,
            f"the private key for {where} is protected by a passphrase: run with"
            " --ask-key-pass, or add it to ssh-agent",
        ) from None
    except paramiko.SSHException as exc:
        if "not found in known_hosts" in str(exc):
            raise HostKeyError(node, hop, trusted.path, via=via) from None
        raise Unreachable(node, where, str(exc)) from None
    except (OSError, EOFError) as exc:
        raise Unreachable(node, where, str(exc) or type(exc).__name__) from None


def connect(
    node: str,
    target: SshTarget,
    creds: Credentials,
    known_secrets: tuple[Secret, ...] = (),
    accept_new: bool = False,
) -> Session:
    """Open every hop of the route in order; the first refusal stops here, before any change."""
    trusted = load_known_hosts(target.known_hosts.expanduser())
    start = time.monotonic()
    opened: list[fabric.Connection] = []
    try:
        for hop in target.route:
            gateway = opened[-1] if opened else None
            passphrase = creds.key_passphrase
            conn = _connection(node, hop, target, gateway, trusted, passphrase, accept_new)
            opened.append(conn)
            _open(node, hop, conn, trusted, _via(target, hop))
    except BaseException:
        for conn in reversed(opened):
            conn.close()
        raise
    secrets = (*known_secrets, *(s for s in (creds.key_passphrase,) if s is not None))
    session = Session(node, target, opened[-1], creds.become, secrets)
    session.gateways = tuple(opened[:-1])
    session.counters.connections += len(opened)
    session.counters.seconds += time.monotonic() - start
    return session


def _via(target: SshTarget, hop: Hop) -> str:
    """' (jump host NAME)' for a hop before the node, '' for the node itself."""
    return "" if hop is target.node else f" (jump host {hop.alias})"
