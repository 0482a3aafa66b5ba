"""A node's lock: one run at a time, named holder, atomic take-over of a dead run's lock.

The lock is a directory under /run (gone at reboot) holding its holder's name. It is
taken in the facts round trip (`facts.lock_lines`); the scripts here take over a
dead run's lock, release this run's own lock, and remove any lock on request.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from lbdeploy.core.paths import LOCK_DIR
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

LOCK_HOLDER = f"{LOCK_DIR}/holder"
TAKEOVER_MUTEX = f"{LOCK_DIR}.takeover"
LOCK_TAKEN = 75  # exit status of a take-over that another run won


def lock_holder() -> str:
    """Who holds a node's lock, so a refused run can name it."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {since}"


def stale_lock(holder: str, here: str, alive: Callable[[int], bool]) -> bool:
    """A lock taken from this machine by a process that no longer exists (killed run).

    `holder` is what lock_holder() wrote: 'user@host pid N since T'. Locks of other
    machines are never judged stale: their processes cannot be seen from here.
    """
    try:
        who, _, rest = holder.partition(" pid ")
        pid = int(rest.split()[0])
    except (ValueError, IndexError):
        return False
    return who.rpartition("@")[2] == here and not alive(pid)


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
