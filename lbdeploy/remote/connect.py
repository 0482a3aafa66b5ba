"""Open a node's SSH route through Fabric, every hop's host key verified before any change.

Fabric accepts unknown host keys by default (AutoAddPolicy), and the jump hosts it
opens from ~/.ssh/config get no host-key check at all. Here the route comes from
`sshconfig.route` (resolved once, when the inventory is loaded), each hop is a Fabric
connection with the inventory's known_hosts and a RejectPolicy, and each tunnels the
next (Fabric's gateway: a direct-tcpip channel, as OpenSSH's ProxyJump): a jump host
whose key is unknown stops the run as surely as the node's would.

An identity file is read once per run, as the key type its file says (paramiko's own
loop parses it as RSA, then ECDSA, then Ed25519, and derives a passphrase's bcrypt key
for each try); ~/.ssh is not searched when the inventory names a key, ssh-agent still
is (after the named key). Fabric is imported when a command first connects, so
`--help` and `--version` never pay for it.
"""

from __future__ import annotations

import socket
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko

from lbdeploy.core.credentials import Credentials
from lbdeploy.core.targets import Hop, SshTarget
from lbdeploy.errors import HostKeyError, KeyFileError, Unreachable
from lbdeploy.remote.known_hosts import KnownHosts, load_known_hosts
from lbdeploy.remote.ssh import Session
from lbdeploy.scripts.shell import Secret

if TYPE_CHECKING:
    import fabric


class SshFiles:
    """The run's private keys and known_hosts, each read once for every node and hop."""

    def __init__(self, passphrase: Secret | None = None) -> None:
        self.passphrase = passphrase
        self._lock = threading.Lock()
        self._loaded: dict[Path, paramiko.PKey | None] = {}
        self._known: dict[Path, KnownHosts] = {}

    def known_hosts(self, path: Path) -> KnownHosts:
        with self._lock:
            if path not in self._known:
                self._known[path] = load_known_hosts(path)
            return self._known[path]

    def key(self, path: Path) -> paramiko.PKey | None:
        """The key; None when paramiko's own loop must handle the file (locked, odd format)."""
        with self._lock:
            if path not in self._loaded:
                secret = self.passphrase.reveal().encode() if self.passphrase else None
                try:
                    # cryptography wants bytes; the stubs say str (paramiko 4: passphrase=)
                    self._loaded[path] = paramiko.PKey.from_path(path, secret)  # type: ignore[arg-type]
                except Exception:  # cryptography raises TypeError, ValueError, ...
                    # Locked without a passphrase, a wrong one, an unknown type: let
                    # paramiko's own loop try it, then ssh-agent, and report as before.
                    self._loaded[path] = None
            return self._loaded[path]


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


class RevokedHostKey(paramiko.SSHException):
    """The host offered a key marked @revoked in known_hosts."""


class RefuseRevoked(paramiko.MissingHostKeyPolicy):
    """A @revoked key is refused before authentication, and accept-new never records it.

    `KnownHosts.install` leaves revoked keys out, so paramiko asks this policy about
    them as about any unknown key; only a key that is not revoked reaches `then`.
    """

    def __init__(self, trusted: KnownHosts, then: paramiko.MissingHostKeyPolicy) -> None:
        self.trusted = trusted
        self.then = then

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if self.trusted.is_revoked(key):
            raise RevokedHostKey(f"the host key of {hostname} is revoked")
        self.then.missing_host_key(client, hostname, key)


def _connect_kwargs(
    node: str, hop: Hop, target: SshTarget, passphrase: Secret | None, files: SshFiles
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "banner_timeout": target.connect_timeout,
        "auth_timeout": target.connect_timeout,
        "transport_factory": _transport,
    }
    if hop.identity_files:
        for path in hop.identity_files:
            check_identity(node, path)
        key = files.key(hop.identity_files[0]) if len(hop.identity_files) == 1 else None
        if key is not None:
            kwargs["pkey"] = key
        else:
            kwargs["key_filename"] = [str(p) for p in hop.identity_files]
        kwargs["look_for_keys"] = False  # the agent is still asked
    if passphrase is not None:
        kwargs["passphrase"] = passphrase.reveal()
    return kwargs


def _transport(sock: socket.socket | paramiko.Channel, **kwargs: Any) -> paramiko.Transport:
    """paramiko's Transport on a TCP socket with Nagle's algorithm off.

    A script's small packets (channel open, exec, EOF) otherwise wait for the delayed ACK
    of the one before: in the lab a trivial round trip took 88 ms with Nagle, 11 ms
    without, and connecting 76 ms instead of 36 ms. (A jump host's channel is no socket:
    its packets travel on the outer connection's socket, which has the option.)
    """
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return paramiko.Transport(sock, **kwargs)


def _connection(
    hop: Hop,
    target: SshTarget,
    kwargs: dict[str, Any],
    gateway: fabric.Connection | None,
    trusted: KnownHosts,
    accept_new: bool,
) -> fabric.Connection:
    import fabric

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
    conn.client.set_missing_host_key_policy(RefuseRevoked(trusted, policy))
    # The name paramiko looks the host key up by (SSHClient.connect's server_hostkey_name).
    name = hop.host if hop.port == 22 else f"[{hop.host}]:{hop.port}"
    trusted.install(conn.client, only=name)
    return conn


def _open(node: str, hop: Hop, conn: fabric.Connection, trusted: KnownHosts, via: str) -> None:
    where = f"{hop.where}{via}"
    try:
        conn.open()
        transport = conn.client.get_transport()
        assert transport is not None
        if trusted.is_revoked(transport.get_remote_server_key()):
            raise HostKeyError(node, hop, trusted.path, via=via, revoked=True)
    except RevokedHostKey:
        raise HostKeyError(node, hop, trusted.path, via=via, revoked=True) from None
    except paramiko.BadHostKeyException as exc:
        if trusted.is_revoked(exc.key):
            raise HostKeyError(node, hop, trusted.path, via=via, revoked=True) from None
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
    files: SshFiles | None = None,
) -> Session:
    """Open every hop of the route in order; the first refusal stops here, before any change.

    `files`: the run's keys and known_hosts, shared by its nodes (each read once).
    """
    files = files or SshFiles(creds.key_passphrase)
    trusted = files.known_hosts(target.known_hosts.expanduser())
    start = time.monotonic()
    opened: list[fabric.Connection] = []
    try:
        for hop in target.route:
            gateway = opened[-1] if opened else None
            kwargs = _connect_kwargs(node, hop, target, creds.key_passphrase, files)
            conn = _connection(hop, target, kwargs, gateway, trusted, accept_new)
            opened.append(conn)
            _open(node, hop, conn, trusted, _via(target, hop))
    except BaseException:
        for conn in reversed(opened):
            conn.close()
        raise
    secrets = (*known_secrets, *(s for s in (creds.key_passphrase,) if s is not None))
    session = Session(node, target, opened[-1].client, creds.become, secrets)
    session.gateways = tuple(c.client for c in opened[:-1])
    session.counters.connections += len(opened)
    session.counters.seconds += time.monotonic() - start
    return session


def _via(target: SshTarget, hop: Hop) -> str:
    """' (jump host NAME)' for a hop before the node, '' for the node itself."""
    return "" if hop is target.node else f" (jump host {hop.alias})"
