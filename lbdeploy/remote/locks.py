"""A node's lock: one run at a time, named holder, atomic take-over of a dead run's lock.

The lock is a directory under /run (gone at reboot) holding its holder's name. It is
taken in the facts round trip (`facts.lock_lines`); the scripts here take over a
dead run's lock, release this run's own lock, and remove any lock on request.

A holder names its machine twice: by hostname, for people, and by a short hash of
/etc/machine-id, because two operators' machines may share a hostname, and a pid that
is dead here may be alive there.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from lbdeploy.core.paths import LOCK_DIR
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

LOCK_HOLDER = f"{LOCK_DIR}/holder"
TAKEOVER_MUTEX = f"{LOCK_DIR}.takeover"
LOCK_TAKEN = 75  # exit status of a take-over that another run won
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
UNKNOWN_MACHINE = "unknown"  # no machine-id here: such a holder is never judged stale
_HOLDER = re.compile(
    r"(?P<user>.*)@(?P<host>[^@\s]+) pid (?P<pid>[0-9]+) since \S+ machine (?P<machine>\S+)"
)


def machine_identity(files: Sequence[str] = MACHINE_ID_FILES) -> str | None:
    """This machine in a lock holder: 12 hex digits hashed from its machine-id, or None.

    The id itself is not shown (systemd asks that it stay private), only a hash of it
    that is lbdeploy's own. None where no machine-id is found (macOS, most containers),
    or where it is not one (empty, or 'uninitialized' before the first boot completes).
    """
    for name in files:
        try:
            machine_id = Path(name).read_text().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if re.fullmatch("[0-9a-f]{32}", machine_id):
            digest = hashlib.sha256(f"lbdeploy lock holder\n{machine_id}".encode())
            return digest.hexdigest()[:12]
    return None


def lock_holder(machine: str | None = None) -> str:
    """Who holds a node's lock, so a refused run can name it.

    e.g. 'ops@laptop pid 4242 since 2026-11-25T10:00:00Z machine 3f2a9c81d0e4'.
    """
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    machine = machine or machine_identity() or UNKNOWN_MACHINE
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    return f"{who} pid {os.getpid()} since {since} machine {machine}"


def stale_lock(holder: str, host: str, machine: str | None, alive: Callable[[int], bool]) -> bool:
    """A lock taken from this machine by a process that no longer exists (killed run).

    `holder` is what lock_holder() wrote; `host` and `machine` are this machine's name
    and identity. Locks of other machines are never judged stale: their processes
    cannot be seen from here. Nor are holders without an identity (an older lbdeploy's,
    or a machine without machine-id): a hostname alone may be shared.
    """
    match = _HOLDER.fullmatch(holder)
    if match is None or machine is None or match["machine"] == UNKNOWN_MACHINE:
        return False
    if match["host"] != host or match["machine"] != machine:
        return False
    return not alive(int(match["pid"]))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def takeover_script(old: str, holder: str) -> Script:
    """Replace the lock of the dead run `old` with ours; exits LOCK_TAKEN if another run won.

    Two runs that both found the same dead holder race here: the mutex directory lets
    exactly one of them in, and it re-checks the holder before replacing the lock.
    """
    return Script().line(
        cmd(
            "if mkdir {mutex} 2>/dev/null; then"
            ' if [ "$(cat {file} 2>/dev/null)" = {old} ] && rm -rf {lock} && mkdir {lock}'
            " && printf '%s\\n' {holder} > {file}; then rc=0; else rc={taken}; fi;"
            " rmdir {mutex}; exit $rc; else exit {taken}; fi",
            mutex=TAKEOVER_MUTEX,
            file=LOCK_HOLDER,
            old=old,
            lock=LOCK_DIR,
            holder=holder,
            taken=LOCK_TAKEN,
        )
    )


def release_script(holder: str, journal: str = "") -> Script:
    """Remove the lock only if it is still this run's own; say in the journal what ran."""
    script = Script()
    if journal:
        script.probe(cmd("logger -t lbdeploy-run -- {line}", line=journal))
    return script.line(
        cmd(
            'if [ "$(cat {file} 2>/dev/null)" = {holder} ]; then rm -rf {lock}; fi',
            file=LOCK_HOLDER,
            holder=holder,
            lock=LOCK_DIR,
        )
    )


def unlock_script() -> Script:
    """`lbdeploy unlock`: remove whatever lock is there, printing its holder (or none)."""
    return Script().line(
        cmd(
            "if [ -d {lock} ]; then cat {file} 2>/dev/null || echo unknown;"
            " rm -rf {lock} {mutex}; else echo none; fi",
            lock=LOCK_DIR,
            file=LOCK_HOLDER,
            mutex=TAKEOVER_MUTEX,
        )
    )
