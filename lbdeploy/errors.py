"""Errors that carry what their message needs; only the CLI prints them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lbdeploy.exitcodes import ExitCode

if TYPE_CHECKING:
    from lbdeploy.core.targets import Hop


class LbdeployError(Exception):
    """Base of every error the CLI reports as one line (or a few) with an exit code."""

    exit_code: ExitCode = ExitCode.FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an inventory, located like a compiler error."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class InventoryError(LbdeployError):
    """The inventory cannot be used; every problem found is listed, each with its place."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(LbdeployError):
    """The command line asks for something impossible (e.g. an unknown node)."""

    exit_code = ExitCode.BAD_INPUT


class SshConfigError(LbdeployError):
    """An ssh_config lbdeploy would read otherwise than OpenSSH, or one that names a command
    to run: refused before any lookup, each problem at its line ('~/.ssh/config:12: ...')."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, file: str, problems: list[tuple[int | None, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(
            "\n".join(
                f"{file}:{line}: {message}" if line else f"{file}: {message}"
                for line, message in problems
            )
        )


class SshConfigFileError(UsageError):
    """The ssh_config file itself cannot be read: missing (when named), a directory, ..."""

    def __init__(self, shown: str, reason: str) -> None:
        self.shown = shown
        self.reason = reason
        super().__init__(f"{shown} {reason}")


class AcmeStateMissing(LbdeployError):
    """A run would replace a certificate the nodes serve with the ACME placeholder: the
    state that issued it is not on this machine. Raised before any change."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("\n".join(reasons))


class NodeError(LbdeployError):
    """Something went wrong on (or on the way to) one node; the message starts with its name."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(f"{node}: {message}")


class Unreachable(NodeError):
    exit_code = ExitCode.UNREACHABLE

    def __init__(self, node: str, where: str, reason: str) -> None:
        super().__init__(node, f"cannot reach {where}: {reason}")


class HostKeyError(NodeError):
    """Unknown or changed host key: we stop before any change and say how to trust it."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(
        self,
        node: str,
        hop: Hop,
        known_hosts: Path,
        via: str = "",
        changed: bool = False,
        revoked: bool = False,
    ) -> None:
        host, port = hop.host, hop.port
        name = hop.known_hosts_name
        who = f"the host key of {name}{via}"
        if revoked:
            message = f"{who} is marked @revoked in {known_hosts}; refusing it"
        elif changed:
            message = (
                f"{who} CHANGED (not the one in {known_hosts}); this may be an attack or a"
                " reinstalled machine. If you trust the new key, remove the old one with"
                f" `ssh-keygen -R '{name}' -f {known_hosts}` and add the new one"
            )
        else:
            message = (
                f"{who} is not in {known_hosts}; verify it on the host"
                " (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it, e.g."
                f" `ssh-keyscan -p {port} {host} >> {known_hosts}` after checking the fingerprint"
            )
        super().__init__(node, message)


class KeyFileError(NodeError):
    """The SSH private key is missing or readable by others: refused before connecting."""

    exit_code = ExitCode.BAD_INPUT


class ConnectionLost(NodeError):
    exit_code = ExitCode.UNREACHABLE

    def __init__(self, node: str, reason: str) -> None:
        super().__init__(node, f"the SSH connection dropped: {reason}; re-run to converge")


class NeedsPassword(NodeError):
    exit_code = ExitCode.FAILED

    def __init__(self, node: str, user: str, wrong: bool = False) -> None:
        if wrong:
            message = f"the sudo password was refused for user {user} (tried once, not retried)"
        else:
            message = f"sudo asks for a password for user {user}; run with --ask-become-pass"
        super().__init__(node, message)


class RemoteError(NodeError):
    """A step's command failed on the node: what ran, how it ended, what it said.

    `stderr` must already be masked: the Session that raises it knows every secret.
    """

    def __init__(self, node: str, step: str, command: str, exit_code: int, stderr: str) -> None:
        self.step = step
        self.command = command
        self.remote_exit = exit_code
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-12:])
        super().__init__(
            node, f"step {step} failed (exit {exit_code}) running: {command}\n{tail}".rstrip()
        )


class RemoteTimeout(NodeError):
    """A remote command ran past its bound: the connection may be fine, the node was slow."""

    exit_code = ExitCode.FAILED

    def __init__(self, node: str, step: str, seconds: float) -> None:
        self.step = step
        super().__init__(
            node, f"step {step} did not finish within {seconds:.0f} s (it may still run there)"
        )


class LockHeld(NodeError):
    def __init__(self, node: str, holder: str) -> None:
        super().__init__(
            node,
            f"another lbdeploy run holds the node's lock ({holder}); wait for it, or if that "
            f"run is dead: lbdeploy unlock --node {node}",
        )
