"""Faults on a converged pair: locks raced, dpkg held, a full disk, Ctrl-C and cut connections.

Each fault ends with the same proof: the VIP serves, and the next `up` converges.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lab import lab as labmod
from lbdeploy.remote.locks import LOCK_TAKEN, release_script, takeover_script
from lbdeploy.scripts.script import Script
from tests.integration.helpers import (
    VIP,
    converged_inventory,
    lbdeploy,
    sh,
    sha,
    start_lbdeploy,
    up_json,
    wait_for_holders,
    write_inventory,
)

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
DEAD = "ops@laptop pid 4194311 since 2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def inventory(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return converged_inventory(lab, tmp_path_factory.mktemp("faults"))


def run_script(node: str, script: Script) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["docker", "exec", "-i", f"{labmod.PROJECT}_{node}_1", "sh", "-s"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def serves() -> bool:
    with urllib.request.urlopen(f"http://{VIP}/", timeout=3) as response:
        return response.status == 200


def converges(inventory: Path) -> None:
    """The next run converges, and the one after it changes nothing."""
    code, report = up_json(inventory)
    assert code == 0, report
    code, report = up_json(inventory)
    assert code == 0 and all(n["changed"] == 0 for n in report["nodes"].values()), report
    wait_for_holders(["hera"], timeout=15)
    assert serves()


def test_two_takeovers_of_a_dead_lock_let_exactly_one_win(inventory: Path) -> None:
    for trial in range(5):
        sh(
            "hera",
            f"rm -rf /run/lbdeploy.lock* && mkdir /run/lbdeploy.lock && "
            f"echo '{DEAD}' > /run/lbdeploy.lock/holder",
        )
        runs = []
        for who in ("a", "b"):
            proc = run_script("hera", takeover_script(DEAD, f"run-{who} pid 1"))
            runs.append((who, proc))
        texts = {
            who: proc.communicate(takeover_script(DEAD, f"run-{who} pid 1").text(), timeout=30)
            for who, proc in runs
        }
        codes = sorted(proc.returncode for _, proc in runs)
        assert codes == [0, LOCK_TAKEN], (trial, codes, texts)
        winner = next(who for who, proc in runs if proc.returncode == 0)
        assert sh("hera", "cat /run/lbdeploy.lock/holder").strip() == f"run-{winner} pid 1"
    sh("hera", "rm -rf /run/lbdeploy.lock*")


def test_a_run_releases_only_its_own_lock(inventory: Path) -> None:
    sh("hera", "mkdir -p /run/lbdeploy.lock && echo 'someone else' > /run/lbdeploy.lock/holder")
    proc = run_script("hera", release_script("me"))
    proc.communicate(release_script("me").text(), timeout=30)
    assert sh("hera", "cat /run/lbdeploy.lock/holder").strip() == "someone else"
    proc = run_script("hera", release_script("someone else"))
    proc.communicate(release_script("someone else").text(), timeout=30)
    assert sh("hera", "ls /run/lbdeploy.lock 2>/dev/null; echo end") == "end\n"


def test_a_held_dpkg_lock_is_waited_for_and_named(inventory: Path) -> None:
    sh("afrodita", "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q socat >/dev/null 2>&1")
    hold = (
        "import fcntl, time; f = open('/var/lib/dpkg/lock-frontend', 'w');"
        " fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(6)"
    )
    holder = subprocess.Popen(
        ["docker", "exec", f"{labmod.PROJECT}_afrodita_1", "python3", "-c", hold],
    )
    try:
        deadline = time.monotonic() + 10
        while "lock-frontend" not in sh("afrodita", "lslocks -n -o PATH 2>/dev/null || true"):
            assert time.monotonic() < deadline, "the test could not take the dpkg lock"
            time.sleep(0.1)
        start = time.monotonic()
        code, report = up_json(inventory)
        took = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert code == 0, report
    packages = next(s for s in report["nodes"]["afrodita"]["steps"] if s["step"] == "packages")
    assert packages["status"] == "changed"
    assert "waited (at most 120 s) for the dpkg lock held by python3" in packages["detail"]
    assert took > 2, "apt did not wait for the lock"
    assert "ii" in sh("afrodita", "dpkg-query -W -f='${db:Status-Abbrev}' socat")


@pytest.mark.destructive
def test_a_full_disk_keeps_the_live_config(inventory: Path, lab, tmp_path: Path) -> None:
    live = sha("hera", HAPROXY_CFG)
    sh(
        "hera",
        "mkdir -p /root/haproxy.save && cp -a /etc/haproxy/. /root/haproxy.save/ &&"
        " mount -t tmpfs -o size=64k tmpfs /etc/haproxy && cp -a /root/haproxy.save/. /etc/haproxy/"
        " && (dd if=/dev/zero of=/etc/haproxy/fill bs=1k 2>/dev/null || true)",
    )
    try:
        edited = write_inventory(tmp_path, lab, ("port: 8080}\n", "port: 8080, weight: 7}\n"))
        result = lbdeploy("up", str(edited))
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "No space left on device" in output
        assert sha("hera", HAPROXY_CFG) == live
        assert "lbdeploy-new" not in sh("hera", "ls -a /etc/haproxy")
        assert sh("hera", "systemctl is-active haproxy").strip() == "active"
        assert serves()
    finally:
        sh("hera", "umount /etc/haproxy && rm -rf /root/haproxy.save")
    converges(inventory)


def _interrupt_up(inventory: Path, lab, tmp_path: Path, delay: float, how: str) -> None:
    weight = random.Random(delay).randint(2, 200)
    edited = write_inventory(tmp_path, lab, ("port: 8080}\n", f"port: 8080, weight: {weight}}}\n"))
    run = start_lbdeploy("up", str(edited))
    time.sleep(delay)
    if how == "sigint":
        run.send_signal(signal.SIGINT)
    else:
        labmod.node_exec("hera", "pkill -f 'sshd: deploy'")
    out, err = run.communicate(timeout=120)
    for node in ("hera", "afrodita"):
        # Old or new, never partial: whatever is live passes HAProxy's own check.
        sh(node, f"haproxy -c -q -f {HAPROXY_CFG}")
        assert "lbdeploy-new" not in sh(node, "ls -a /etc/haproxy /etc/keepalived"), out + err


@pytest.mark.destructive
@pytest.mark.parametrize("how", ["sigint", "connection-cut"])
def test_interrupted_up_leaves_the_pair_serving_and_the_next_run_converges(
    inventory: Path, lab, tmp_path: Path, how: str
) -> None:
    """Bounded trials at random points of an `up` that changes haproxy.cfg on both nodes."""
    rng = random.Random(f"lbdeploy-{how}")  # random points, the same ones every run
    for delay in sorted(rng.uniform(0.2, 2.5) for _ in range(4)):
        _interrupt_up(inventory, lab, tmp_path, delay, how)
        wait_for_holders(["hera"], timeout=15)
        assert serves(), delay
        converges(inventory)
