"""A node that fails mid-run: a clear error, the other node untouched, the next run converges."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import (
    lbdeploy,
    sh,
    start_lbdeploy,
    up_json,
    wait_for_holders,
    write_inventory,
)

# A source apt can read without any network, and that has nothing in it.
BROKEN_SOURCES = "deb file:/nonexistent bookworm main"


@pytest.mark.destructive
def test_failed_apt_stops_before_the_other_node_is_configured_and_rerun_converges(
    pristine_nodes: labmod.Lab, tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path, pristine_nodes)
    sh("afrodita", "cp /etc/apt/sources.list /root/sources.list.good")
    sh("afrodita", f"echo '{BROKEN_SOURCES}' > /etc/apt/sources.list")
    result = lbdeploy("up", str(inventory))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "afrodita" in output and "step packages failed" in output
    assert "nonexistent" in output  # apt's own words
    # hera's preparation may run, but no config of hera's was touched.
    assert "afrodita     packages   failed" in output
    assert result.stdout.count("skipped") >= 1  # hera: configs not applied, and it says so
    assert sh("hera", "ls /etc/keepalived/keepalived.conf 2>/dev/null; echo end") == "end\n"
    assert "lbdeploy.lock" not in sh("hera", "ls /run") + sh("afrodita", "ls /run")
    sh("afrodita", "cp /root/sources.list.good /etc/apt/sources.list")
    code, report = up_json(inventory)
    assert code == 0, report
    wait_for_holders(["hera"], timeout=10)


@pytest.mark.destructive
def test_connection_dropped_during_apt_then_rerun_converges(
    pristine_nodes: labmod.Lab, tmp_path: Path
) -> None:
    """Cut afrodita's SSH session while apt runs there: a clear error, hera's configs
    untouched, and the next run (same machine: the dead run's lock is taken over) converges."""
    inventory = write_inventory(tmp_path, pristine_nodes)
    run = start_lbdeploy("up", str(inventory))
    try:
        deadline = time.monotonic() + 60
        while labmod.node_exec("afrodita", "pgrep -x apt-get || pgrep -x dpkg").returncode != 0:
            assert time.monotonic() < deadline, "apt never started on afrodita"
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        labmod.node_exec("afrodita", "pkill -f 'sshd: deploy'")
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, out + err
    assert "afrodita" in out and "SSH connection dropped" in out
    assert sh("hera", "ls /etc/keepalived/keepalived.conf 2>/dev/null; echo end") == "end\n"
    code, report = up_json(inventory)
    assert code == 0, report
    wait_for_holders(["hera"], timeout=10)
    assert sh("afrodita", "dpkg-query -W -f='${db:Status-Abbrev}' keepalived haproxy") == "ii ii "
