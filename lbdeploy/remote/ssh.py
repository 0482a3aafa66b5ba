"""A session with one node: scripts run as root in one round trip each, every one counted.

Scripts travel on stdin, never on the command line, so no secret shows in `ps`.

The sudo password is sent only when sudo asks for it: the remote command prints a
random prompt marker on stderr when sudo wants a password, and a random ready marker
on stdout once a root shell waits for the script. A node whose sudo does not ask
(NOPASSWD, cached credentials) never receives the password, so it can never be read
by the root shell as a command (Ansible's become does the same).
"""

from __future__ import annotations

import secrets
import select
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import paramiko

from lbdeploy.core.report import Counters
from lbdeploy.core.targets import SshTarget
from lbdeploy.errors import ConnectionLost, NeedsPassword, RemoteError, RemoteTimeout
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Secret, mask


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str  # masked: every secret the session knows is ***
    seconds: float


def _wait(channel: paramiko.Channel, deadline: float) -> None:
    """Sleep until the channel has news (output, EOF, exit status), at most until the deadline.

    Polling every 2 ms cost each waiting node 500 wake-ups a second: with 20 nodes, CPU
    and the GIL went to threads with nothing to do.
    """
    remaining = min(deadline - time.monotonic(), 0.2)
    if remaining <= 0:
        return  # the caller's deadline check raises
    if channel.eof_received:  # only the exit status is still to come
        channel.status_event.wait(remaining)
    else:
        select.select([channel], [], [], remaining)


@dataclass
class _Streams:
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)

    def pull(self, channel: paramiko.Channel) -> bool:
        got = False
        if channel.recv_ready():
            self.out += channel.recv(65536)
            got = True
        if channel.recv_stderr_ready():
            self.err += channel.recv_stderr(65536)
            got = True
        return got

    def finished(self, channel: paramiko.Channel) -> bool:
        """Exit status, EOF and every byte read. SSH does not order the exit status
        before the last output: sshd may send it while the pipe still holds the script's
        final lines, which only EOF (or the channel's close) says have all come."""
        return (
            channel.exit_status_ready()
            and bool(channel.eof_received or channel.closed)
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        )


@dataclass
class Session:
    """One open SSH connection to one node; runs scripts as root (directly or via sudo)."""

    node: str
    target: SshTarget
    connection: paramiko.SSHClient
    become_password: Secret | None = None
    secrets: tuple[Secret, ...] = ()  # masked in every stderr and error
    counters: Counters = field(default_factory=Counters)
    gateways: tuple[paramiko.SSHClient, ...] = ()  # jump hosts, outermost first

    def run(
        self,
        script: Script,
        step: str,
        what: str = "",
        timeout: float = 300,
        ok_codes: Collection[int] = (0,),
    ) -> Result:
        """Run a script as root in one round trip; an exit outside ok_codes raises RemoteError."""
        start = time.monotonic()
        payload = script.text().encode()
        try:
            code, out, err = self._exchange(payload, step, timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionLost(self.node, f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.counters.round_trips += 1
            self.counters.bytes_sent += len(payload)
            self.counters.seconds += time.monotonic() - start
        stderr = self.mask(err)
        if code == 1 and "a password is required" in stderr and self.become_password is None:
            raise NeedsPassword(self.node, self.target.user)
        result = Result(code, out, stderr, time.monotonic() - start)
        if code not in ok_codes:
            raise RemoteError(self.node, step, what or step, code, stderr)
        return result

    def mask(self, text: str) -> str:
        known: Iterable[Secret] = self.secrets
        if self.become_password is not None:
            known = (*self.secrets, self.become_password)
        return mask(text, known)

    def _exchange(self, payload: bytes, step: str, timeout: float) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout
        transport = self.connection.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionLost(self.node, "the connection is closed")
        channel = transport.open_session(timeout=30)
        try:
            streams = _Streams()
            if self._start(channel, streams, deadline):
                channel.sendall(payload)
                channel.shutdown_write()
                self._drain(channel, streams, deadline)
            code = channel.recv_exit_status()
        except TimeoutError:
            raise RemoteTimeout(self.node, step, timeout) from None
        finally:
            channel.close()
        if code == -1:  # paramiko's value when the channel closed without a status
            raise ConnectionLost(self.node, "the session ended without an exit status")
        return code, streams.out.decode(errors="replace"), streams.err.decode(errors="replace")

    def _start(self, channel: paramiko.Channel, streams: _Streams, deadline: float) -> bool:
        """Start a root shell; True once it waits for the script on stdin."""
        # $1 of every script is $SSH_CONNECTION as the login shell saw it: sudo resets it.
        args = 'sh -s "$SSH_CONNECTION"'
        if not self.target.needs_sudo:
            channel.exec_command(args)
            return True
        if self.become_password is None:
            channel.exec_command(f"sudo -n {args}")
            return True
        prompt, ready = f"lbdeploy-sudo-{secrets.token_hex(8)}:", secrets.token_hex(8)
        channel.exec_command(
            f"sudo -S -p '{prompt}' sh -c 'echo {ready}; exec sh -s \"$1\"' sh \"$SSH_CONNECTION\""
        )
        asked = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError
            got = streams.pull(channel)
            if streams.err.count(prompt.encode()) > asked:
                asked += 1
                if asked > 1:  # sudo asks again: the password was wrong; no retries
                    raise NeedsPassword(self.node, self.target.user, wrong=True)
                channel.sendall(self.become_password.reveal().encode() + b"\n")
            marker = streams.out.find(ready.encode() + b"\n")
            if marker >= 0:
                del streams.out[: marker + len(ready) + 1]
                streams.err[:] = streams.err.replace(prompt.encode(), b"")
                return True
            if streams.finished(channel):
                return False  # sudo refused before any shell ran
            if not got:
                _wait(channel, deadline)

    def _drain(self, channel: paramiko.Channel, streams: _Streams, deadline: float) -> None:
        while not streams.finished(channel):
            if time.monotonic() > deadline:
                raise TimeoutError
            if not streams.pull(channel):
                _wait(channel, deadline)

    def close(self) -> None:
        """Close the node's connection, then each jump host's, innermost first."""
        for connection in (self.connection, *reversed(self.gateways)):
            connection.close()
