"""What a node has now, read in one round trip: one script, its output cut into sections.

`facts_script` builds the read-only script (plus the lock, when asked) with the one
script builder; `parse_facts` and the per-section parsers are pure, and tested on
recorded output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lbdeploy.core.addresses import IPAddress, IPInterface
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
    parse_priorities,
    parse_probes,
    parse_services,
    parse_ssh_connection,
)
from lbdeploy.core.paths import (
    ALERT_PACKAGES,
    APPLIED,
    FAILSAFE,
    INTERFACES,
    KEEPALIVED_CONF,
    LOCK_DIR,
    NONLOCAL_BIND,
    PACKAGES,
    PENDING,
    SCRIPT_USER,
    SERVICES,
    STANDBY_FILE,
)
from lbdeploy.core.serving import address_lines, probe_lines
from lbdeploy.remote.locks import LOCK_HOLDER
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
    sysctl: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)  # installed name -> version
    apt_lists: int = 0
    dpkg_interrupted: bool = False  # an install was cut off: `dpkg --configure -a` first
    script_user: bool = False
    addresses: dict[str, tuple[IPInterface, ...]] = field(default_factory=dict)
    ssh_server_address: IPAddress | None = None
    services: dict[str, ServiceFact] = field(default_factory=dict)
    failsafe_sleeps: int | None = None  # None: the file does not exist
    sources_interfaces_d: bool = False
    probes: dict[str, bool] = field(default_factory=dict)  # "vip:port" -> answers
    standby: bool = False
    pending: dict[str, str] = field(default_factory=dict)  # service -> reload/restart owed
    signals: dict[str, str] = field(default_factory=dict)  # what says which network stack runs
    priorities: dict[str, int] = field(default_factory=dict)  # VRRP instance -> live config's

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


def _system_facts(s: Script, paths: list[str]) -> None:
    """OS, managed files and what lbdeploy recorded, sysctl, packages, apt and dpkg state."""
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
    # /proc/sys read by the shell itself: no sysctl process per key.
    s.section("sysctl")
    for key in NONLOCAL_BIND:
        s.probe(
            cmd(
                'lbv=; { read -r lbv < {proc}; } 2>/dev/null || :; echo {key}"=$lbv"',
                proc="/proc/sys/" + key.replace(".", "/"),
                key=key,
            )
        )
    s.section("packages").probe(
        cmd(
            "dpkg-query -W -f={fmt} {packages} 2>/dev/null",
            fmt="${Package} ${db:Status-Abbrev} ${Version}\\n",
            packages=(*PACKAGES, *ALERT_PACKAGES),
        )
    )
    s.section("apt").probe(count_matches("/var/lib/apt/lists/*_Packages"))
    s.section("dpkg").probe(count_matches("/var/lib/dpkg/updates/*"))


def _daemon_facts(s: Script, promex: bool) -> None:
    """Script user, addresses, the SSH connection, services, failsafe, interfaces, standby.

    `promex`: ask whether haproxy has the Prometheus exporter (`haproxy -vv` is the
    dearest probe of all; only a pair with `metrics` needs the answer).
    """
    s.section("user").probe(cmd("id -u {user} 2>/dev/null", user=SCRIPT_USER))
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
            services=(*SERVICES, *(unit for unit, _ in NETWORK_UNITS)),
            want=" ".join(SERVICES),
        )
    )
    s.section("failsafe").probe(
        cmd(
            "if [ -f {f} ]; then grep -cE '^[[:space:]]*sleep([[:space:]]|$)' {f};"
            " else echo absent; fi",
            f=FAILSAFE,
        )
    )
    s.section("interfaces").probe(
        cmd(
            "grep -E '^[[:space:]]*source(-directory)?[[:space:]]' {f} 2>/dev/null",
            f=INTERFACES,
        )
    )
    s.section("standby").probe(read_lines(STANDBY_FILE))
    s.section("platform").probe(
        cmd(
            "for c in apt-get ifup netplan; do if command -v $c >/dev/null 2>&1;"
            ' then echo "$c=yes"; fi; done;'
            " if [ -d /etc/netplan ] && grep -qsE"
            " '^[[:space:]]*renderer:[[:space:]]*NetworkManager' /etc/netplan/*.yaml;"
            " then echo netplan_nm=yes; fi"
        )
    )
    if promex:
        s.probe(
            cmd(
                "if command -v haproxy >/dev/null 2>&1; then if haproxy -vv 2>/dev/null"
                " | grep -qi 'prometheus'; then echo promex=yes; else echo promex=no; fi; fi"
            )
        )
    # The live config's priorities: the roll simulates VRRP's election with them.
    s.section("priorities").probe(
        cmd(
            'if [ -f {conf} ]; then awk \'$1 == "vrrp_instance" { i = $2 }'
            ' $1 == "priority" && i != "" { print i, $2 }\' {conf}; fi',
            conf=KEEPALIVED_CONF,
        )
    )
    s.section("pending").probe(
        cmd(
            'for f in {dir}/*; do if [ -f "$f" ]; then lbv=; read -r lbv < "$f" || :;'
            ' echo "${f##*/} $lbv"; fi; done',
            dir=PENDING,
        )
    )


def facts_script(
    paths: list[str],
    probes: list[tuple[IPAddress, int]],
    lock_holder: str | None,
    extra: Script | None = None,
    promex: bool = False,
) -> Script:
    """The read-only script (and lock attempt) whose output `parse_facts` reads.

    Runs as root via `sh -s "$SSH_CONNECTION"`, so $1 is the SSH connection as the
    login shell saw it (sudo resets the environment).
    """
    s = lock_lines(lock_holder)
    _system_facts(s, paths)
    _daemon_facts(s, promex)
    s.extend(probe_lines(probes))
    if extra is not None:
        s.extend(extra)
    return s


def parse_facts(output: str) -> Facts:
    s = split_sections(output)
    lock_lines = s.get("lock", [])
    failsafe = s.get("failsafe", ["absent"])
    services = parse_services(s.get("services", []))
    network_units = {
        signal: services[unit].active
        for unit, signal in NETWORK_UNITS
        if unit in services and services[unit].active != "unknown"
    }
    return Facts(
        lock=lock_lines[0].strip() if lock_lines else "unknown holder",
        os=parse_key_values(s.get("os", [])),
        files=parse_files(s.get("files", [])),
        applied=parse_applied(s.get("applied", [])),
        sysctl=parse_key_values(s.get("sysctl", [])),
        packages=parse_packages(s.get("packages", [])),
        apt_lists=parse_int(s.get("apt", [])),
        dpkg_interrupted=parse_int(s.get("dpkg", [])) > 0,
        script_user=bool("".join(s.get("user", [])).strip()),
        addresses=parse_addresses(s.get("addresses", [])),
        ssh_server_address=parse_ssh_connection(s.get("ssh", [])),
        services={k: v for k, v in services.items() if k in SERVICES},
        failsafe_sleeps=None if failsafe == ["absent"] else parse_int(failsafe),
        sources_interfaces_d=any("interfaces.d" in line for line in s.get("interfaces", [])),
        probes=parse_probes(s.get("probes", [])),
        standby="".join(s.get("standby", [])).strip() not in ("", "0"),
        pending=parse_pending(s.get("pending", [])),
        signals=parse_key_values(s.get("platform", [])) | network_units,
        priorities=parse_priorities(s.get("priorities", [])),
    )
