"""What a node has now, read in one round trip: one script, its output cut into sections.

`facts_script` builds the read-only script (plus the lock, when asked); `parse_facts`
and the per-section parsers are pure, and tested on recorded output.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

LOCK_DIR = "/run/lbdeploy.lock"
APPLIED = "/var/lib/lbdeploy/applied"
FAILSAFE = "/etc/init/failsafe.conf"
# procps: pgrep for the track script; socat: HAProxy's stats socket for `status`.
PACKAGES = ("keepalived", "haproxy", "procps", "socat")
SERVICES = ("haproxy", "keepalived")
SCRIPT_USER = "keepalived_script"
STANDBY_FILE = "/etc/keepalived/lbdeploy-standby"  # 1: put on standby by `switchover`
SECTION = "@@lbdeploy "


@dataclass(frozen=True)
class FileFact:
    sha256: str
    mode: int
    owner: str
    group: str


@dataclass(frozen=True)
class ServiceFact:
    active: str  # active, inactive, failed, activating, ...
    enabled: str  # enabled, disabled, masked, absent
    main_pid: int


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
    addresses: dict[str, tuple[IPv4Interface, ...]] = field(default_factory=dict)
    ssh_server_address: IPv4Address | None = None
    services: dict[str, ServiceFact] = field(default_factory=dict)
    failsafe_sleeps: int | None = None  # None: the file does not exist
    sources_interfaces_d: bool = False
    probes: dict[str, bool] = field(default_factory=dict)  # "vip:port" -> answers
    standby: bool = False

    @property
    def ssh_interface(self) -> str | None:
        """The interface the SSH session runs over: never to be taken down."""
        for iface, addrs in self.addresses.items():
            if any(a.ip == self.ssh_server_address for a in addrs):
                return iface
        return None

    def holds(self, interface: str, address: IPv4Address) -> bool:
        return any(a.ip == address for a in self.addresses.get(interface, ()))


def facts_script(
    paths: list[str],
    probes: list[tuple[IPv4Address, int]],
    lock_holder: str | None,
    extra: tuple[str, ...] = (),
) -> str:
    """The read-only script (and lock attempt) whose output `parse_facts` reads.

    Runs as root via `sh -s "$SSH_CONNECTION"`, so $1 is the SSH connection as the
    login shell saw it (sudo resets the environment).
    """
    q = shlex.quote
    lines = [
        "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        'ssh_connection="${1:-}"',
        f"echo '{SECTION}lock'",
    ]
    if lock_holder is None:
        lines.append("echo none")
    else:
        lines.append(
            f"if mkdir {LOCK_DIR} 2>/dev/null; then printf '%s\\n' {q(lock_holder)}"
            f" > {LOCK_DIR}/holder; echo acquired; else cat {LOCK_DIR}/holder 2>/dev/null"
            " || echo 'unknown holder'; fi"
        )
    lines += [
        f"echo '{SECTION}os'",
        "grep -E '^(ID|VERSION_ID|VERSION_CODENAME)=' /etc/os-release 2>/dev/null",
        f"echo '{SECTION}files'",
        f"for f in {' '.join(q(p) for p in paths)}; do",
        '  if [ -f "$f" ]; then h=$(sha256sum < "$f");'
        ' echo "${h%% *} $(stat -c \'%a %U %G\' "$f") $f"; fi',
        "done",
        f"echo '{SECTION}applied'",
        f"cat {APPLIED} 2>/dev/null",
        f"echo '{SECTION}sysctl'",
        'echo "net.ipv4.ip_nonlocal_bind=$(sysctl -n net.ipv4.ip_nonlocal_bind 2>/dev/null)"',
        f"echo '{SECTION}packages'",
        "dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Version}\\n' "
        + " ".join(PACKAGES)
        + " 2>/dev/null",
        f"echo '{SECTION}apt'",
        "ls /var/lib/apt/lists/ 2>/dev/null | grep -c '_Packages$'",
        f"echo '{SECTION}dpkg'",
        "ls -A /var/lib/dpkg/updates 2>/dev/null | wc -l",
        f"echo '{SECTION}user'",
        f"id -u {SCRIPT_USER} 2>/dev/null",
        f"echo '{SECTION}addresses'",
        "ip -4 -o addr show 2>/dev/null",
        f"echo '{SECTION}ssh'",
        'echo "$ssh_connection"',
        f"echo '{SECTION}services'",
        f"for s in {' '.join(SERVICES)}; do",
        "  a=$(systemctl is-active $s 2>/dev/null); e=$(systemctl is-enabled $s 2>/dev/null);"
        " p=$(systemctl show -p MainPID --value $s 2>/dev/null)",
        '  echo "$s ${a:-unknown} ${e:-absent} ${p:-0}"',
        "done",
        f"echo '{SECTION}failsafe'",
        f"if [ -f {FAILSAFE} ]; then grep -cE '^[[:space:]]*sleep([[:space:]]|$)' {FAILSAFE};"
        " else echo absent; fi",
        f"echo '{SECTION}interfaces'",
        "grep -E '^[[:space:]]*source(-directory)?[[:space:]]' /etc/network/interfaces 2>/dev/null",
        f"echo '{SECTION}standby'",
        f"cat {STANDBY_FILE} 2>/dev/null",
        f"echo '{SECTION}probes'",
    ]
    lines += probe_lines(probes)
    lines += extra
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def probe_lines(probes: list[tuple[IPv4Address, int]]) -> list[str]:
    """Does VIP:port answer? Asked only where the VIP is local; others skip the wait."""
    return [
        f"if ip -4 -o addr show | grep -q ' inet {vip}/'; then"
        f" if timeout 2 bash -c '</dev/tcp/{vip}/{port}' 2>/dev/null;"
        f" then echo '{vip}:{port} up'; else echo '{vip}:{port} down'; fi; fi"
        for vip, port in probes
    ]


def serving_script(probes: list[tuple[IPv4Address, int]]) -> str:
    """The cheap part of the facts, polled while waiting for the VIP: addresses and probes."""
    lines = [
        "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        f"echo '{SECTION}addresses'",
        "ip -4 -o addr show 2>/dev/null",
        f"echo '{SECTION}probes'",
        *probe_lines(probes),
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def split_sections(output: str) -> dict[str, list[str]]:
    """'@@lbdeploy NAME' lines open sections; the lines up to the next one are its body."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION) :].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def parse_files(lines: list[str]) -> dict[str, FileFact]:
    """'<sha256> <mode> <owner> <group> <path>' per existing file."""
    files = {}
    for line in lines:
        parts = line.split(" ", 4)
        if len(parts) == 5:
            sha, mode, owner, group, path = parts
            files[path] = FileFact(sha, int(mode, 8), owner, group)
    return files


def parse_applied(lines: list[str]) -> dict[str, str]:
    """'<sha256>  <path>' lines, as sha256sum writes them."""
    applied = {}
    for line in lines:
        sha, _, path = line.partition("  ")
        if sha and path:
            applied[path] = sha
    return applied


def parse_key_values(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def parse_packages(lines: list[str]) -> dict[str, str]:
    """dpkg-query lines 'name ii  version': only fully installed packages count."""
    installed = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "ii":
            installed[parts[0]] = parts[2]
    return installed


def parse_addresses(lines: list[str]) -> dict[str, tuple[IPv4Interface, ...]]:
    """`ip -4 -o addr show` lines: '2: eth1    inet 10.0.0.5/24 brd ... scope global eth1'."""
    found: dict[str, list[IPv4Interface]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "inet":
            iface = parts[1].split("@")[0]
            found.setdefault(iface, []).append(IPv4Interface(parts[3]))
    return {k: tuple(v) for k, v in found.items()}


def parse_ssh_connection(lines: list[str]) -> IPv4Address | None:
    """$SSH_CONNECTION is 'client_ip client_port server_ip server_port'."""
    parts = " ".join(lines).split()
    if len(parts) == 4:
        try:
            return IPv4Address(parts[2])
        except ValueError:
            return None
    return None


def parse_services(lines: list[str]) -> dict[str, ServiceFact]:
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            name, active, enabled, pid = parts
            out[name] = ServiceFact(active, enabled, int(pid) if pid.isdigit() else 0)
    return out


def parse_int(lines: list[str], default: int = 0) -> int:
    text = "".join(lines).strip()
    return int(text) if text.isdigit() else default


def parse_probes(lines: list[str]) -> dict[str, bool]:
    out = {}
    for line in lines:
        target, _, state = line.partition(" ")
        if state in ("up", "down"):
            out[target] = state == "up"
    return out


def parse_facts(output: str) -> Facts:
    s = split_sections(output)
    lock_lines = s.get("lock", [])
    failsafe = s.get("failsafe", ["absent"])
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
        services=parse_services(s.get("services", [])),
        failsafe_sleeps=None if failsafe == ["absent"] else parse_int(failsafe),
        sources_interfaces_d=any("interfaces.d" in line for line in s.get("interfaces", [])),
        probes=parse_probes(s.get("probes", [])),
        standby="".join(s.get("standby", [])).strip() not in ("", "0"),
    )
