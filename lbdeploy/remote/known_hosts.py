"""known_hosts as OpenSSH reads it: hashed names, @revoked keys, lines paramiko refuses.

paramiko's loader raises on a `@cert-authority` or `@revoked` line and on any line it
cannot parse, which made a perfectly normal known_hosts an internal error. Here such
lines are read the way OpenSSH does: a revoked key is refused even when it is also
listed as known; certificate authorities are not supported (their lines are skipped,
so a host known only through a CA is reported as unknown); a malformed line is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko

from lbdeploy.errors import UsageError


@dataclass(frozen=True)
class KnownHosts:
    path: Path
    entries: tuple[paramiko.hostkeys.HostKeyEntry, ...]
    revoked: frozenset[str]  # "keytype base64" of every @revoked key
    skipped: int  # @cert-authority and malformed lines

    def install(self, client: paramiko.SSHClient, only: str | None = None) -> None:
        """Make `client` trust exactly these keys; `only`: those that can match that name.

        paramiko looks a host up by one name ("host" or "[host]:port") among exact and
        hashed names; installing the rest would only cost time (its `add` scans every
        entry, so all of a big known_hosts for each of many nodes was quadratic).
        """
        keys = client.get_host_keys()
        for entry in self.entries:
            for name in entry.hostnames:
                if only is None or name == only or name.startswith("|1|"):
                    keys.add(name, entry.key.get_name(), entry.key)

    def is_revoked(self, key: paramiko.PKey) -> bool:
        return f"{key.get_name()} {key.get_base64()}" in self.revoked


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
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
        fields = rest.split()
        if marker == "@revoked" and len(fields) >= 3:
            revoked.add(f"{fields[1]} {fields[2]}")
            continue
        if marker:
            skipped += 1
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(rest, number)
        except (paramiko.hostkeys.InvalidHostKey, ValueError, IndexError):
            entry = None
        if entry is None:
            skipped += 1
            continue
        entries.append(entry)
    return KnownHosts(path, tuple(entries), frozenset(revoked), skipped)
