"""Every component's packages installed (apt only when one is missing), then what the
components need beyond them (a system user)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lbdeploy.components.base import Component, Context
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.steps import Change, Step
from lbdeploy.scripts.script import NOTE
from lbdeploy.scripts.shell import Arg, Command, Raw, cmd, join, sh

APT_LOG = "/var/log/lbdeploy-apt.log"
# A held dpkg lock (unattended-upgrades) is waited for, this long, then apt fails clearly.
DPKG_LOCK_TIMEOUT = 120


def _apt_install(packages: list[str]) -> list[Arg]:
    return [
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        f"DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT}",
        "-o",
        "Dpkg::Options::=--force-confold",
        *packages,
    ]


def _apt_update(*options: Arg) -> Command:
    return sh(
        Raw("logged"),
        "apt-get",
        "update",
        "-q",
        "-o",
        f"DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT}",
        *options,
    )


# apt and dpkg write to a log on the node, never to the SSH channel: if the connection
# drops, they finish instead of dying of SIGPIPE half-way through an install. On a
# failure the log's tail goes to stderr, so the error still shows apt's own words.
_LOGGED = cmd(
    "trap '' HUP PIPE; logged() { \"$@\" >>{log} 2>&1 || { rc=$?;"
    " tail -n 15 {log} >&2; return $rc; }; }",
    log=APT_LOG,
)
# apt waits for a dpkg lock held by another process (unattended-upgrades): say whose.
_LOCK_NOTE = cmd(
    "holder=$(lslocks -n -o PID,COMMAND,PATH 2>/dev/null"
    ' | awk \'$3 ~ /^\\/var\\/lib\\/dpkg\\/lock/ {print $2 " (pid " $1 ")"; exit}\');'
    ' if [ -n "$holder" ]; then echo {note}"$holder"; fi',
    note=NOTE + f"waited (at most {DPKG_LOCK_TIMEOUT} s) for the dpkg lock held by ",
)
# A cut-off install leaves dpkg half-done; repair it, waiting (bounded) for a dpkg that
# may still be running from the dropped run.
_REPAIR = cmd(
    "i=0; until logged dpkg --configure -a; do i=$((i+1));"
    " [ $i -lt {tries} ] || exit 1; sleep 2; done",
    tries=DPKG_LOCK_TIMEOUT // 2,
)


class Packages(Component):
    """The pair's packages: the union of what its components ask for, in their order."""

    name = "packages"

    def __init__(self, others: tuple[Component, ...]) -> None:
        self.others = others

    def steps(self, ctx: Context, files: Mapping[str, ManagedFile]) -> list[Step]:
        wanted = dict.fromkeys(p for c in self.others for p in c.packages(ctx.pair))
        return [Install(tuple(wanted), self.others, ctx)]


@dataclass(frozen=True)
class Install:
    required: tuple[str, ...]
    components: tuple[Component, ...]
    ctx: Context
    name: str = "packages"

    def plan(self, facts: Facts) -> Change | None:
        missing = [p for p in self.required if p not in facts.packages]
        owed = [
            p for c in self.components for p in c.prerequisites(self.ctx.pair, facts) if not p.done
        ]
        commands = []
        if facts.dpkg_interrupted:
            commands.append(_REPAIR)
        if missing:
            commands.append(_LOCK_NOTE)
            commands.append(_install(missing, facts.apt_lists))
        commands += [p.command for p in owed]
        if not commands:
            return None
        why = []
        if facts.dpkg_interrupted:
            why.append("repair an interrupted dpkg run")
        if missing:
            why.append(f"install {' '.join(missing)}")
        why += [p.why for p in owed]
        return Change(
            step=self.name,
            why="; ".join(why),
            commands_before=(_LOGGED,) if facts.dpkg_interrupted or missing else (),
            commands=tuple(commands),
        )


def _install(missing: list[str], apt_lists: int) -> Command:
    install = sh(Raw("logged"), *_apt_install(missing))
    if apt_lists == 0:
        # Empty lists (a fresh node): fetch what an install reads, not the 30 MB of
        # package descriptions (Translation-en); apt's daily update fetches those.
        return join([_apt_update("-o", "Acquire::Languages=none"), install])
    # Lists may be stale (404 on an old version): update once and retry.
    retry = cmd("{ ") + join([_apt_update(), install]) + cmd("; }")
    return join([install, retry], op="||")
