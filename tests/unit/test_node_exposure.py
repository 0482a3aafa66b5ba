"""What other local users of a node could see or subvert (issue 21, findings 3 and 4).

The admin socket takes certificates with their keys: it lives in a directory only root
can enter, never in Debian's group-writable /run/haproxy. The webhook URL often holds a
token: curl reads it from the root-only alerts file, never from its command line, which
`ps` shows to everyone.
"""

from __future__ import annotations

import json
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


NOTIFY = "/usr/local/lib/lbdeploy/vrrp-notify"
TRANSITION = ("172.29.150.150", "INSTANCE", "VI_50", "MASTER", "254")


def _run_notify(
    tmp: Path,
    textfiles: Path,
    args: tuple[str, ...] = TRANSITION,
    fakes: dict[str, str] | None = None,
    alerts: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The rendered handler, run unprivileged against directories of the test's own;
    `fakes` are commands (name -> shell body) put first on its PATH, `alerts` the alerts
    file, and systemd counts as running."""
    notify = _files(tmp)[NOTIFY]
    own, run, bin_dir, systemd = tmp / "own", tmp / "run", tmp / "bin", tmp / "systemd"
    for folder in (own, bin_dir, systemd):
        folder.mkdir(exist_ok=True)
    for name, body in {"logger": "exit 0", **(fakes or {})}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (tmp / "alerts").write_text(alerts or "")
    script = notify.replace("/var/lib/prometheus/node-exporter", str(textfiles))
    script = script.replace("/run/lbdeploy-vrrp", str(run)).replace("/var/lib/lbdeploy", str(own))
    script = script.replace("/etc/lbdeploy/alerts", str(tmp / "alerts"))
    script = script.replace("/run/systemd/system", str(systemd))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(
        ["sh", "-s", "--", *args], input=script, env=env, capture_output=True, text=True, timeout=30
    )


def test_the_alert_is_posted_by_a_unit_of_its_own_and_a_failed_post_is_counted(
    tmp_path: Path,
) -> None:
    """`systemctl stop keepalived` kills keepalived's cgroup: a post left in it as a child
    was lost with its failure (seen in the lab). The handler starts the post detached, as
    a transient unit that runs the handler again with --post."""
    textfiles, seen = tmp_path / "textfiles", tmp_path / "seen"
    textfiles.mkdir()
    record = f'printf "%s\\n" "$@" >> {seen}'
    done = _run_notify(
        tmp_path, textfiles, fakes={"systemd-run": record}, alerts='url = "http://hook/"\n'
    )
    assert done.returncode == 0, done.stderr
    argv = seen.read_text().splitlines()
    assert argv[:7] == ["--quiet", "--no-block", "--collect", "--", NOTIFY, "--post", "VI_50"]
    assert argv[7] == "MASTER" and len(argv) == 9
    body = json.loads(argv[8])
    assert (body["node"], body["instance"], body["state"]) == ("hera", "VI_50", "MASTER")
    # The post itself, refused by the webhook: a journal line and the failure counter.
    done = _run_notify(
        tmp_path,
        textfiles,
        args=("--post", "VI_50", "MASTER", argv[8]),
        fakes={"curl": "exit 22", "logger": f'echo "$@" >> {seen}.log'},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seen.log").read_text() == (
        "-t lbdeploy-vrrp node=hera webhook failed for state=MASTER of VI_50\n"
    )
    assert (
        'lbdeploy_notify_failures_total{node="hera"} 1'
        in (textfiles / "lbdeploy-notify.prom").read_text()
    )


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
