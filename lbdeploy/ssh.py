"""SSH to one node through Fabric, with host keys verified and every round trip counted.

Fabric accepts unknown host keys by default (AutoAddPolicy) and reads no known_hosts;
here the inventory's known_hosts is loaded and anything not in it is refused.
Scripts travel on stdin, never on the command line, so no secret shows in `ps`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import fabric
import paramiko

from lbdeploy.desired import SshTarget
from lbdeploy.errors import ConnectionLost, HostKeyError, NeedsPassword, Unreachable
from lbdeploy.shell import Secret


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Counters:
    """What one node cost: shown by --stats and measured by the benchmark."""

    connections: int = 0
    round_trips: int = 0
    seconds: float = 0.0
    bytes_sent: int = 0


@dataclass
class Session:
    """One open SSH connection to one node; runs scripts as root (directly or via sudo)."""

    node: str
    target: SshTarget
    connection: fabric.Connection
    become_password: Secret | None = None
    counters: Counters = field(default_factory=Counters)

    def _wrap(self) -> tuple[str, str]:
        """The remote command that runs a script from stdin as root, and its stdin prefix."""
        # $1 of every script is $SSH_CONNECTION as the login shell saw it: sudo resets it.
        args = 'sh -s "$SSH_CONNECTION"'
        if not self.target.needs_sudo:
            return args, ""
        if self.become_password is None:
            return f"sudo -n {args}", ""
        # sudo -S reads the password line by line from stdin; the script follows it.
        return f"sudo -S -p '' {args}", self.become_password.reveal() + "\n"

    def run_script(self, script: str, timeout: float = 300) -> Result:
        """Run a POSIX sh script as root in one round trip."""
        command, prefix = self._wrap()
        payload = (prefix + script).encode()
        start = time.monotonic()
        try:
            transport = self.connection.client.get_transport()
            if transport is None or not transport.is_active():
                raise ConnectionLost(self.node, "the connection is closed")
            channel = transport.open_session(timeout=30)
            channel.settimeout(timeout)
            channel.exec_command(command)
            channel.sendall(payload)
            channel.shutdown_write()
            stdout, stderr = _drain(channel, deadline=start + timeout)
            code = channel.recv_exit_status()
            channel.close()
            if code == -1:  # paramiko's value when the channel closed without a status
                raise ConnectionLost(self.node, "the session ended without an exit status")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionLost(self.node, f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.counters.round_trips += 1
            self.counters.bytes_sent += len(payload)
            self.counters.seconds += time.monotonic() - start
        if code == 1 and "a password is required" in stderr and self.become_password is None:
            raise NeedsPassword(self.node, self.target.user)
        if "incorrect password" in stderr or "Sorry, try again" in stderr:
            raise NeedsPassword(self.node, self.target.user, wrong=True)
        return Result(code, stdout, stderr, time.monotonic() - start)

    def close(self) -> None:
        self.connection.close()


def _drain(channel: paramiko.Channel, deadline: float) -> tuple[str, str]:
    out: list[bytes] = []
    err: list[bytes] = []
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the remote command did not finish in time")
        got = False
        if channel.recv_ready():
            out.append(channel.recv(65536))
            got = True
        if channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
            got = True
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        ):
            break
        if not got:
            time.sleep(0.002)
    return b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")


def connect(node: str, target: SshTarget, become_password: Secret | None = None) -> Session:
    """Open a verified connection; unknown or changed host keys stop here, before any change."""
    connect_kwargs: dict[str, object] = {"banner_timeout": target.connect_timeout}
    if target.identity_file is not None:
        connect_kwargs["key_filename"] = [str(target.identity_file)]
    conn = fabric.Connection(
        host=target.host,
        user=target.user,
        port=target.port,
        connect_timeout=max(1, round(target.connect_timeout)),
        connect_kwargs=connect_kwargs,
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known_hosts = target.known_hosts.expanduser()
    if known_hosts.exists():
        conn.client.load_host_keys(str(known_hosts))
    session = Session(node, target, conn, become_password)
    start = time.monotonic()
    try:
        conn.open()
    except paramiko.BadHostKeyException:
        conn.close()
        raise HostKeyError(node, target, known_hosts, changed=True) from None
    except paramiko.SSHException as exc:
        conn.close()
        if "not found in known_hosts" in str(exc):
            raise HostKeyError(node, target, known_hosts, changed=False) from None
        raise Unreachable(node, target, str(exc)) from None
    except (OSError, EOFError) as exc:
        conn.close()
        raise Unreachable(node, target, str(exc) or type(exc).__name__) from None
    session.counters.connections += 1
    session.counters.seconds += time.monotonic() - start
    return session
