"""keepalived and haproxy installed (apt only when missing), and the track script's user."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.facts import PACKAGES, SCRIPT_USER, Facts
from lbdeploy.shell import Raw, join, sh
from lbdeploy.steps.base import Change

# A held dpkg lock (unattended-upgrades) is waited for, this long, then apt fails clearly.
DPKG_LOCK_TIMEOUT = 120


def _apt_install(packages: list[str]) -> list:
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


@dataclass(frozen=True)
class Packages:
    name: str = "packages"

    def plan(self, facts: Facts) -> Change | None:
        missing = [p for p in PACKAGES if p not in facts.packages]
        commands = []
        if missing:
            install = sh(*_apt_install(missing))
            update = sh("apt-get", "update", "-q", "-o", f"DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT}")
            if facts.apt_lists == 0:
                commands.append(join([update, install]))
            else:
                # Lists may be stale (404 on an old version): update once and retry.
                commands.append(join([install, join([update, install])], op="||"))
        if not facts.script_user:
            commands.append(
                sh(
                    "id",
                    "-u",
                    SCRIPT_USER,
                    Raw(">/dev/null 2>&1 ||"),
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SCRIPT_USER,
                )
            )
        if not commands:
            return None
        why = []
        if missing:
            why.append(f"install {' '.join(missing)}")
        if not facts.script_user:
            why.append(f"add system user {SCRIPT_USER} for keepalived's track script")
        return Change(step=self.name, why="; ".join(why), commands=tuple(commands))
