"""lbdeploy's job as a pyinfra deploy, run by bench/ on the same lab.

The same files (rendered by `lbdeploy render` into host.data.rendered/<node>/), the
public interface's stanza, nonlocal bind, the packages in one apt call, both daemon
configs staged and validated before they go live, reloads only on change, and at the
end the VIP must answer. pyinfra's own operations and facts; no settings beyond `-y`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File, Sha256File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

RENDERED = Path(host.data.rendered) / host.name
IFACE = host.data.iface
NEEDLE = f" inet {host.data.node_address}/"
STANZA = f"/etc/network/interfaces.d/lbdeploy-{IFACE}"
SYSCTL = "/etc/sysctl.d/60-lbdeploy.conf"
# keepalived 2.2.7's -t is killed when script_user is not root: lbdeploy checks a copy with
# `script_user root`, and so does this deploy.
KEEPALIVED_TEST = (
    r"""sh -c 'sed -E "s/^([[:space:]]*script_user[[:space:]]+)[^[:space:]].*$/\1root/" "$1" """
    r""" > "$1.t" && keepalived -t -f "$1.t"; rc=$?; rm -f "$1.t"; exit $rc' sh"""
)
DROPINS = (
    "/etc/systemd/system/keepalived.service.d/lbdeploy.conf",
    "/etc/systemd/system/haproxy.service.d/lbdeploy.conf",
)


def local(path: str) -> str:
    return str(RENDERED / path.lstrip("/"))


def validated(path: str, check: str, mode: str, group: str = "root") -> bool:
    """Upload beside the target, check, keep a backup, move into place; True if it changes."""
    want = hashlib.sha256(Path(local(path)).read_bytes()).hexdigest()
    live = host.get_fact(File, path=path)
    if (
        live
        and host.get_fact(Sha256File, path=path) == want
        and f"{live['mode']}" == mode
        and live["group"] == group
    ):
        return False
    directory, _, name = path.rpartition("/")
    staged = f"{directory}/.{name}.pyinfra-new"
    files.put(
        name=f"Stage {path}", src=local(path), dest=staged, user="root", group=group, mode=mode
    )
    server.shell(
        name=f"Check {path}, then put it live",
        commands=[
            f"{check} {staged}",
            f"if [ -e {path} ]; then cp -p {path} {path}.pyinfra-bak; fi",
            f"mv -f {staged} {path}",
        ],
    )
    return True


files.put(name="Interface stanza", src=local(STANZA), dest=STANZA, mode="644")
files.line(
    name="Interfaces file sources interfaces.d",
    path="/etc/network/interfaces",
    line="source /etc/network/interfaces.d/*",
    escape_regex_characters=True,
)
if NEEDLE not in (host.get_fact(Command, f"ip -4 -o addr show dev {IFACE}") or ""):
    server.shell(
        name="Interface up",
        commands=[f"ifup {IFACE} || ip -4 -o addr show dev {IFACE} | grep -qF '{NEEDLE}'"],
    )

sysctl_file = files.put(name="Nonlocal bind persisted", src=local(SYSCTL), dest=SYSCTL, mode="644")
if host.get_fact(Command, "sysctl -n net.ipv4.ip_nonlocal_bind") != "1":
    server.shell(name="Nonlocal bind live", commands=[f"sysctl -q -p {SYSCTL}"])
else:
    server.shell(
        name="Nonlocal bind live", commands=[f"sysctl -q -p {SYSCTL}"], _if=sysctl_file.did_change
    )

apt.packages(
    name="Packages",
    packages=["keepalived", "haproxy", "procps", "socat"],
    update=True,
    cache_time=3600,
    no_recommends=True,
)
server.user(
    name="The track script's user",
    user="keepalived_script",
    system=True,
    shell="/usr/sbin/nologin",
    ensure_home=False,
)

dropins = [files.put(name=f"Drop-in {p}", src=local(p), dest=p, mode="644") for p in DROPINS]
systemd.daemon_reload(name="Units reloaded", _if=any_changed(*dropins))

default = files.put(
    name="/etc/default/haproxy",
    src=local("/etc/default/haproxy"),
    dest="/etc/default/haproxy",
    mode="644",
)
haproxy_cfg = validated("/etc/haproxy/haproxy.cfg", "haproxy -c -f", "640", group="haproxy")
validated("/usr/local/lib/lbdeploy/vrrp-notify", "sh -n", "755")
files.put(
    name="Alerts file", src=local("/etc/lbdeploy/alerts"), dest="/etc/lbdeploy/alerts", mode="600"
)
keepalived_conf = validated("/etc/keepalived/keepalived.conf", KEEPALIVED_TEST, "640")

failsafe = host.get_fact(File, path="/etc/init/failsafe.conf")
if failsafe:
    server.shell(
        name="Boot sleeps of an upstart failsafe.conf commented out",
        commands=[
            "sed -i.lbdeploy-bak -E 's/^([[:space:]]*)(sleep([[:space:]]|$))/\\1# \\2/'"
            " /etc/init/failsafe.conf"
        ],
    )

for service in ("haproxy", "keepalived"):
    systemd.service(name=f"{service} enabled and running", service=service, enabled=True)
if haproxy_cfg:
    systemd.service(name="Reload haproxy", service="haproxy", reloaded=True)
else:
    systemd.service(name="Reload haproxy", service="haproxy", reloaded=True, _if=default.did_change)
if keepalived_conf:
    systemd.service(name="Reload keepalived", service="keepalived", reloaded=True)

server.shell(
    name="The VIP answers (check)",
    commands=[
        "curl -fsS -o /dev/null -m 2 --retry 20 --retry-delay 1 --retry-all-errors"
        f" http://{host.data.vip}/"
    ],
)
