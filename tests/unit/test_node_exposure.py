"""What other local users of a node could see or subvert (issue 21, findings 3 and 4).

The admin socket takes certificates with their keys: it lives in a directory only root
can enter, never in Debian's group-writable /run/haproxy. The webhook URL often holds a
token: curl reads it from the root-only alerts file, never from its command line, which
`ps` shows to everyone.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from lbdeploy.components.haproxy import HAPROXY_SOCKET, SOCKET_DIR
from lbdeploy.core.desired import derive
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

DATA = Path(__file__).parent / "data"
TOKEN = "https://hooks.example/T0/SECRET-TOKEN"


def _files(tmp: Path, extra: str = "") -> dict[str, str]:
    text = (DATA / "render" / "lab" / "inventory.yaml").read_text()
    path = tmp / "inventory.yaml"
    path.write_text(text.replace("services:\n", extra + "services:\n", 1))
    desired = derive(load_inventory(path, {}), path.parent)
    files = render_node(desired.pair, desired.nodes[0])
    return {p: f.content for p, f in files.items()}


def test_the_admin_socket_is_in_a_root_only_directory(tmp_path: Path) -> None:
    files = _files(tmp_path)
    socket_line = re.search(
        r"^\s*stats socket (\S+) mode (\d+) level admin",
        files["/etc/haproxy/haproxy.cfg"],
        re.MULTILINE,
    )
    assert socket_line is not None
    assert socket_line.group(1) == HAPROXY_SOCKET and not HAPROXY_SOCKET.startswith("/run/haproxy/")
    assert socket_line.group(2) == "600"
    dropin = files["/etc/systemd/system/haproxy.service.d/lbdeploy.conf"]
    make_dir = f"/usr/bin/install -d -m 0700 -o root -g root {SOCKET_DIR}"
    assert f"ExecStartPre={make_dir}" in dropin
    # A reload re-executes haproxy, which binds the socket anew: the directory first.
    reloads = [line for line in dropin.splitlines() if line.startswith("ExecReload=")]
    assert reloads[:2] == ["ExecReload=", f"ExecReload={make_dir}"]


def test_the_webhook_url_never_stands_on_a_command_line(tmp_path: Path) -> None:
    files = _files(tmp_path, f"alerts: {{webhook: '{TOKEN}'}}\n")
    notify = files["/usr/local/lib/lbdeploy/vrrp-notify"]
    assert TOKEN not in notify and "$url" not in notify
    assert "-K /etc/lbdeploy/alerts" in notify
    assert f'url = "{TOKEN}"' in files["/etc/lbdeploy/alerts"].splitlines()


def _run_notify(tmp: Path, textfiles: Path) -> subprocess.CompletedProcess[str]:
    """The rendered handler, run unprivileged against directories of the test's own."""
    notify = _files(tmp)["/usr/local/lib/lbdeploy/vrrp-notify"]
    own, run, bin_dir = tmp / "own", tmp / "run", tmp / "bin"
    for folder in (own, bin_dir):
        folder.mkdir(exist_ok=True)
    (bin_dir / "logger").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "logger").chmod(0o755)
    script = notify.replace("/var/lib/prometheus/node-exporter", str(textfiles))
    script = script.replace("/run/lbdeploy-vrrp", str(run)).replace("/var/lib/lbdeploy", str(own))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    args = ["sh", "-s", "172.29.150.150", "INSTANCE", "VI_50", "MASTER", "254"]
    return subprocess.run(args, input=script, env=env, capture_output=True, text=True, timeout=30)


def test_a_link_planted_in_the_textfile_directory_is_not_followed(tmp_path: Path) -> None:
    """node_exporter's user may write its textfile directory: root's notify handler must
    not write through a link planted there (issue 21, finding 5): to a file, a FIFO (a
    device alike: noclobber would open it), under the old or the final name."""
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    victim, fifo = tmp_path / "victim", tmp_path / "fifo"
    victim.write_text("precious\n")
    os.mkfifo(fifo)
    (textfiles / ".lbdeploy-VI_50.prom").symlink_to(victim)  # the old handler's temp name
    (textfiles / "lbdeploy-VI_50.prom").symlink_to(fifo)  # opening it would block
    done = _run_notify(tmp_path, textfiles)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n"
    final = textfiles / "lbdeploy-VI_50.prom"
    assert (
        not final.is_symlink()
        and 'lbdeploy_vrrp_state{node="hera",vrrp_instance="VI_50"' in final.read_text()
    )
    assert oct(final.stat().st_mode & 0o777) == "0o644"  # node_exporter reads it
    assert list((tmp_path / "own").iterdir()) == []  # no temporary file left


def test_a_textfile_directory_that_is_a_link_gets_no_metric(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    textfiles = tmp_path / "textfiles"
    textfiles.symlink_to(elsewhere)
    done = _run_notify(tmp_path, textfiles)
    assert done.returncode == 0, done.stderr
    assert list(elsewhere.iterdir()) == []


def test_operating_haproxy_waits_for_up_on_a_node_whose_socket_is_elsewhere() -> None:
    """After an upgrade, a node still running an older lbdeploy's config has its socket in
    /run/haproxy: restart and drain refuse (run `up` first) rather than time out."""
    from lbdeploy.components.haproxy import socket_lines, socket_missing
    from lbdeploy.core.facts import parse_facts

    section = socket_lines().text()
    assert f"[ -S {HAPROXY_SOCKET} ]" in section
    base = (DATA / "facts" / "converged-hera.txt").read_text()
    old = parse_facts(base + "@@lbdeploy admin-socket\nno\n")
    assert socket_missing(old) is not None and "lbdeploy up" in (socket_missing(old) or "")
    assert socket_missing(parse_facts(base + "@@lbdeploy admin-socket\nyes\n")) is None
    stopped = base.replace("haproxy active", "haproxy inactive")
    assert socket_missing(parse_facts(stopped + "@@lbdeploy admin-socket\nno\n")) is None
