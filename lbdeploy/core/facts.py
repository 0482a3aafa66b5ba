"""What a node has now, read in one round trip: one script, its output cut into sections.

`facts_script` builds the read-only script (plus the lock, when asked) with the one
script builder: the sections every node has (files, packages, units, addresses, the
platform), then each component's own (`FactsRequest.parts`), which the component parses
from `Facts.sections` itself. `parse_facts` and the parsers are pure, and tested on
recorded output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from lbdeploy.addresses import IPAddress, IPInterface
from lbdeploy.core.parsers import (
    FileFact,
    ServiceFact,
    parse_addresses,
    parse_applied,
    parse_files,
    parse_int,
    parse_key_values,
    parse_packages,
    parse_pending,
    parse_probes,
    parse_services,
    parse_ssh_connection,
)
from lbdeploy.core.paths import APPLIED, LOCK_DIR, LOCK_HOLDER, PENDING
from lbdeploy.core.serving import address_lines, probe_lines
from lbdeploy.scripts.script import Script, count_matches, read_lines, split_sections
from lbdeploy.scripts.shell import cmd

# The units whose state says which network stack runs, and the signal each one gives.
NETWORK_UNITS = (("systemd-networkd", "networkd"), ("NetworkManager", "networkmanager"))


@dataclass(frozen=True)
class Facts:
    """One snapshot of a node; the plan is made from it and nothing else."""

    lock: str  # "acquired", "none" (not asked), or the holder of someone else's lock
    os: dict[str, str] = field(default_factory=dict)
    files: dict[str, FileFact] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)  # path -> sha256 lbdeploy wrote
    packages: dict[str, str] = field(default_factory=dict)  # installed name -> version
    apt_lists: int = 0
    dpkg_interrupted: bool = False  # an install was cut off: `dpkg --configure -a` first
    addresses: dict[str, tuple[IPInterface, ...]] = field(default_factory=dict)
    ssh_server_address: IPAddress | None = None
    services: dict[str, ServiceFact] = field(default_factory=dict)
    probes: dict[str, bool] = field(default_factory=dict)  # "vip:port" -> answers
    pending: dict[str, str] = field(default_factory=dict)  # service -> reload/restart owed
    signals: dict[str, str] = field(default_factory=dict)  # what says which network stack runs
    # Every section's raw lines: a component parses its own (`components/*.py`).
    sections: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ssh_interface(self) -> str | None:
        """The interface the SSH session runs over: never to be taken down."""
        for iface, addrs in self.addresses.items():
            if any(a.ip == self.ssh_server_address for a in addrs):
                return iface
        return None

    def holds(self, interface: str, *addresses: IPAddress) -> bool:
        """Whether the interface carries every one of `addresses`."""
        held = {a.ip for a in self.addresses.get(interface, ())}
        return all(address in held for address in addresses)


# The section of a file's live text: `live-text /etc/prometheus/x-web.yml`.
LIVE_TEXT = "live-text "


def live_text_lines(paths: Iterable[str]) -> Script:
    """The live text of files judged on what they mean, not their bytes (a component's
    `fact_lines`, for a `ManagedFile.same_as_live`). Only for small files; their text
    stays in the facts, never in a report."""
    script = Script()
    for path in paths:
        script.section(LIVE_TEXT + path).probe(read_lines(path))
    return script


def live_text(facts: Facts, path: str) -> str | None:
    """A file's live text, if the facts read it and it is the very file whose sha256
    they hold (read line by line, so this also proves its last newline)."""
    lines = facts.sections.get(LIVE_TEXT + path)
    live = facts.files.get(path)
    if lines is None or live is None:
        return None
    text = "".join(line + "\n" for line in lines)
    return text if hashlib.sha256(text.encode()).hexdigest() == live.sha256 else None


def lock_lines(holder: str | None) -> Script:
    """Take the node's lock in the facts round trip; print 'acquired' or who holds it."""
    script = Script().section("lock")
    if holder is None:
        return script.line(cmd("echo none"))
    return script.line(
        cmd(
            "if mkdir {lock} 2>/dev/null; then printf '%s\\n' {holder} > {file}; echo acquired;"
            " else cat {file} 2>/dev/null || echo 'unknown holder'; fi",
            lock=LOCK_DIR,
            holder=holder,
            file=LOCK_HOLDER,
        )
    )


def _system_facts(s: Script, paths: list[str], packages: list[str]) -> None:
    """OS, managed files and what lbdeploy recorded, packages, apt and dpkg state."""
    s.section("os").probe(
        cmd(
            'while IFS= read -r lbl || [ -n "$lbl" ]; do case $lbl in'
            " ID=*|VERSION_ID=*|VERSION_CODENAME=*) printf '%s\\n' \"$lbl\";; esac;"
            " done 2>/dev/null < /etc/os-release"
        )
    )
    # One stat and one sha256sum for every file, not two processes per file.
    s.section("files").probe(
        cmd(
            '( set --; for f in {paths}; do if [ -f "$f" ]; then set -- "$@" "$f"; fi; done;'
            " if [ $# -gt 0 ]; then st=$(stat -c '%a %U %G %n' -- \"$@\");"
            ' sha256sum -- "$@" | awk -v st="$st" \'BEGIN { split(st, s, "\\n") }'
            " { print $1, s[NR] }'; fi )",
            paths=paths,
        )
    )
    s.section("applied").probe(read_lines(APPLIED))
    s.section("packages").probe(
        cmd(
            "dpkg-query -W -f={fmt} {packages} 2>/dev/null",
            fmt="${Package} ${db:Status-Abbrev} ${Version}\\n",
            packages=packages,
        )
    )
    s.section("apt").probe(count_matches("/var/lib/apt/lists/*_Packages"))
    s.section("dpkg").probe(count_matches("/var/lib/dpkg/updates/*"))


def _node_facts(s: Script, units: list[str], platform: list[Script]) -> None:
    """Addresses, the SSH connection, units, what the platform is, reloads owed.

    `platform`: the components' own probes of what the node is, in the platform section
    (`key=value` lines, read back from `Platform.signals`).
    """
    s.extend(address_lines())
    s.section("ssh").probe(cmd("printf '%s\\n' \"${1:-}\""))
    # One systemctl for every unit, the network stack's too:
    # '<name> <active> <enabled or absent> <main pid>'.
    s.section("services").probe(
        cmd(
            "systemctl show -p Id,ActiveState,UnitFileState,MainPID {services} 2>/dev/null"
            " | awk -F= -v want={want} '"
            ' function out() { if (n != "") { print n, (a == "" ? "unknown" : a),'
            ' (e == "" ? "absent" : e), (p == "" ? 0 : p); seen[n] = 1 }; n = a = e = p = "" }'
            ' $1 == "Id" { n = $2; sub(/[.]service$/, "", n) } $1 == "ActiveState" { a = $2 }'
            ' $1 == "UnitFileState" { e = $2 } $1 == "MainPID" { p = $2 } $0 == "" { out() }'
            ' END { out(); k = split(want, w, " ");'
            ' for (i = 1; i <= k; i++) if (!(w[i] in seen)) print w[i], "unknown absent 0" }\'',
            services=(*units, *(unit for unit, _ in NETWORK_UNITS)),
            want=" ".join(units),
        )
    )
    s.section("platform").probe(
        cmd(
            "for c in apt-get ifup netplan; do if command -v $c >/dev/null 2>&1;"
            ' then echo "$c=yes"; fi; done;'
            " if [ -d /etc/netplan ] && grep -qsE"
            " '^[[:space:]]*renderer:[[:space:]]*NetworkManager' /etc/netplan/*.yaml;"
            " then echo netplan_nm=yes; fi"
        )
    )
    for part in platform:
        s.extend(part)
    s.section("pending").probe(
        cmd(
            'for f in {dir}/*; do if [ -f "$f" ]; then lbv=; read -r lbv < "$f" || :;'
            ' echo "${f##*/} $lbv"; fi; done',
            dir=PENDING,
        )
    )


@dataclass(frozen=True)
class FactsRequest:
    """What one facts script asks every node of a run: the same for all, built once."""

    paths: list[str]  # managed files: hash, mode, owner
    packages: list[str]  # dpkg's state of each
    units: list[str]  # systemd's state of each
    probes: list[tuple[IPAddress, int]]  # VIP:port answering where the VIP is local
    parts: list[Script] = field(default_factory=list)  # each component's own sections
    platform: list[Script] = field(default_factory=list)  # their probes of what the node is


def facts_script(
    request: FactsRequest, lock_holder: str | None, extra: Script | None = None
) -> Script:
    """The read-only script (and lock attempt) whose output `parse_facts` reads.

    Runs as root via `sh -s "$SSH_CONNECTION"`, so $1 is the SSH connection as the
    login shell saw it (sudo resets the environment).
    """
    s = lock_lines(lock_holder)
    _system_facts(s, request.paths, request.packages)
    _node_facts(s, request.units, request.platform)
    for part in request.parts:
        s.extend(part)
    s.extend(probe_lines(request.probes))
    if extra is not None:
        s.extend(extra)
    return s


def parse_facts(output: str, units: tuple[str, ...] | None = None) -> Facts:
    """`units`: the services the pair runs (None: every unit but the network stack's)."""
    s = split_sections(output)
    lock_lines = s.get("lock", [])
    services = parse_services(s.get("services", []))
    network_units = {
        signal: services[unit].active
        for unit, signal in NETWORK_UNITS
        if unit in services and services[unit].active != "unknown"
    }
    stack_units = {unit for unit, _ in NETWORK_UNITS}
    return Facts(
        lock=lock_lines[0].strip() if lock_lines else "unknown holder",
        os=parse_key_values(s.get("os", [])),
        files=parse_files(s.get("files", [])),
        applied=parse_applied(s.get("applied", [])),
        packages=parse_packages(s.get("packages", [])),
        apt_lists=parse_int(s.get("apt", [])),
        dpkg_interrupted=parse_int(s.get("dpkg", [])) > 0,
        addresses=parse_addresses(s.get("addresses", [])),
        ssh_server_address=parse_ssh_connection(s.get("ssh", [])),
        services={
            k: v
            for k, v in services.items()
            if (k in units if units is not None else k not in stack_units)
        },
        probes=parse_probes(s.get("probes", [])),
        pending=parse_pending(s.get("pending", [])),
        signals=parse_key_values(s.get("platform", [])) | network_units,
        sections=s,
    )
