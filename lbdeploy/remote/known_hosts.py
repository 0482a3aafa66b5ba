"""known_hosts as OpenSSH reads it: hashed names, @revoked keys, lines paramiko refuses.

paramiko's loader raises on a `@cert-authority` or `@revoked` line and on any line it
cannot parse, which made a perfectly normal known_hosts an internal error. Here such
lines are read the way OpenSSH does (`hostfile.c`, `sshkey_read`): fields are separated
by any run of spaces and tabs; a revoked key is refused even when it is also listed as
known; certificate authorities are not supported (their lines are skipped, so a host
known only through a CA is reported as unknown); a malformed line is skipped.

A revocation is never dropped where OpenSSH's own reading would drop it (a tab after the
marker and a space further on makes its `check_markers` see no marker): refusing a key
someone meant to revoke is the safe side. It also holds for every host, whatever the
line's host pattern says.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from dataclasses import dataclass
from pathlib import Path

import paramiko

from lbdeploy.errors import UsageError


@dataclass(frozen=True)
class KnownHosts:
    path: Path
    entries: tuple[paramiko.hostkeys.HostKeyEntry, ...]
    revoked: frozenset[bytes]  # the public key blob of every @revoked key
    skipped: int  # @cert-authority and malformed lines

    def install(self, client: paramiko.SSHClient, only: str | None = None) -> None:
        """Make `client` trust exactly these keys; `only`: those that can match that name.

        paramiko looks a host up by one name ("host" or "[host]:port") among exact and
        hashed names; installing the rest would only cost time (its `add` scans every
        entry, so all of a big known_hosts for each of many nodes was quadratic).
        """
        keys = client.get_host_keys()
        for entry in self.entries:
            if self.is_revoked(entry.key):
                continue  # left to the missing-key policy, which refuses it (connect.py)
            for name in entry.hostnames:
                if only is None or name == only or name.startswith("|1|"):
                    keys.add(name, entry.key.get_name(), entry.key)

    def is_revoked(self, key: paramiko.PKey) -> bool:
        return key.asbytes() in self.revoked


def load_known_hosts(path: Path) -> KnownHosts:
    """Read a known_hosts file; a missing one is empty, an unreadable one a clear error."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return KnownHosts(path, (), frozenset(), 0)
    except IsADirectoryError:
        raise UsageError(f"known_hosts {path} is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read known_hosts {path}: {exc.strerror}") from None
    entries, revoked, skipped = [], set(), 0
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()  # any run of spaces and tabs, as OpenSSH
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if marker == "@revoked" and len(fields) >= 3:
            blob = _key_blob(fields[2])
            if blob is not None:
                revoked.add(blob)
                continue
        if marker or len(fields) < 3:
            skipped += 1  # @cert-authority, an unknown marker, a line too short
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(" ".join(fields[:3]), number)
        except (paramiko.hostkeys.InvalidHostKey, ValueError, IndexError):
            entry = None
        if entry is None:
            skipped += 1
            continue
        entries.append(entry)
    return KnownHosts(path, tuple(entries), frozenset(revoked), skipped)


def _key_blob(text: str) -> bytes | None:
    """A key's base64 field → its public key blob, compared as OpenSSH compares keys."""
    try:
        return b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
