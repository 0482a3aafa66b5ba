"""Operating the running pair: status, verify, failover-test, switchover, redeploys under load."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import (
    VIP,
    converged_inventory,
    input_drop,
    input_undrop,
    lbdeploy,
    run_json,
    sh,
    up_json,
    vip_holders,
    wait_for_holders,
    write_inventory,
)

ADMIN_SOCKET = "/run/lbdeploy-haproxy/admin.sock"  # root only (issue 21)
VRRP_BLOCK = input_drop("lbdtest", "ip protocol 112")
VRRP_UNBLOCK = input_undrop("lbdtest")


@pytest.fixture(scope="module")
def inventory(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return converged_inventory(lab, tmp_path_factory.mktemp("operate"))


def by_node(statuses: list) -> dict:
    return {s["node"]: s for s in statuses}


def test_status_and_verify_report_hera_as_master(inventory: Path) -> None:
    code, statuses = run_json("status", str(inventory))
    assert code == 0
    nodes = by_node(statuses)
    assert nodes["hera"]["vrrp"] == {"VI_50": "MASTER"}
    assert nodes["afrodita"]["vrrp"] == {"VI_50": "BACKUP"}
    assert nodes["hera"]["holds"] == [VIP] and nodes["afrodita"]["holds"] == []
    assert nodes["hera"]["haproxy"] == "active"
    assert nodes["hera"]["haproxy_version"].startswith("2.6")
    assert sorted(nodes["hera"]["servers"]) == [["web", "web1", "UP"], ["web", "web2", "UP"]]
    assert nodes["hera"]["drift"] == [] and not nodes["hera"]["standby"]
    code, verdict = run_json("verify", str(inventory))
    assert code == 0 and verdict["ok"], verdict
    assert verdict["answers"] == {f"{VIP}:80": "ok"}


def test_status_reports_a_dead_backend(inventory: Path) -> None:
    """HAProxy's own view of its servers, read from its stats socket."""
    sh(
        "hera",
        f"echo 'disable server web/web2' | socat stdio unix-connect:{ADMIN_SOCKET}",
    )
    try:
        code, statuses = run_json("status", str(inventory))
        assert code == 0
        assert ["web", "web2", "MAINT"] in by_node(statuses)["hera"]["servers"]
    finally:
        sh(
            "hera",
            f"echo 'enable server web/web2' | socat stdio unix-connect:{ADMIN_SOCKET}",
        )


@pytest.mark.destructive
def test_status_and_verify_follow_the_vip_when_haproxy_stops(inventory: Path) -> None:
    sh("hera", "systemctl stop haproxy")
    try:
        wait_for_holders(["afrodita"], timeout=5)
        code, statuses = run_json("status", str(inventory))
        nodes = by_node(statuses)
        assert nodes["afrodita"]["holds"] == [VIP] and nodes["hera"]["holds"] == []
        assert nodes["hera"]["vrrp"] == {"VI_50": "FAULT"}
        assert nodes["afrodita"]["vrrp"] == {"VI_50": "MASTER"}
        code, verdict = run_json("verify", str(inventory))
        assert code == 1
        assert verdict["problems"] == ["hera: haproxy is inactive"]
        assert verdict["answers"] == {f"{VIP}:80": "ok"}  # afrodita serves meanwhile
    finally:
        sh("hera", "systemctl start haproxy")
    wait_for_holders(["hera"], timeout=15)


@pytest.mark.destructive
def test_verify_reports_split_brain_when_vrrp_is_blocked(inventory: Path) -> None:
    try:
        sh("afrodita", VRRP_BLOCK)  # VRRP is IP protocol 112
        wait_for_holders(["hera", "afrodita"], timeout=10)
        code, verdict = run_json("verify", str(inventory))
        assert code == 1
        assert f"split brain: VIP {VIP} is held by hera and afrodita" in verdict["problems"]
        text = lbdeploy("verify", str(inventory)).stdout
        assert "split brain" in text and "FAILED" in text
    finally:
        labmod.node_exec("afrodita", VRRP_UNBLOCK)
    wait_for_holders(["hera"], timeout=15)
    assert run_json("verify", str(inventory))[0] == 0


@pytest.mark.destructive
def test_a_killed_keepalived_heals_without_split_brain(inventory: Path) -> None:
    """SIGKILL leaves the VIPs on the interface; the drop-in removes them and restarts it."""
    wait_for_holders(["hera"], timeout=10)
    before = sh("hera", "systemctl show -p MainPID --value keepalived").strip()
    start = time.monotonic()
    sh("hera", "pkill -9 -x keepalived")
    seen: list[tuple[float, list[str]]] = []
    one_holder_serving = None
    while time.monotonic() - start < 20:
        holders = vip_holders()
        seen.append((time.monotonic() - start, holders))
        if one_holder_serving is None and len(holders) == 1:
            with urllib.request.urlopen(f"http://{VIP}/", timeout=2) as response:
                if response.status == 200:
                    one_holder_serving = time.monotonic() - start
        if holders == ["hera"] and one_holder_serving is not None and time.monotonic() - start > 3:
            break
        time.sleep(0.1)
    two = [t for t, h in seen if len(h) > 1]
    print(
        f"killed keepalived: one holder serving after {one_holder_serving} s, "
        f"two holders seen for {len(two)} samples, back on {seen[-1][1]} after {seen[-1][0]:.1f} s"
    )
    assert one_holder_serving is not None and one_holder_serving < 5, seen
    assert not [t for t in two if t > 5], seen  # no lasting split brain
    assert seen[-1][1] == ["hera"], seen
    after = sh("hera", "systemctl show -p MainPID --value keepalived").strip()
    assert after not in ("0", before)  # restarted by systemd
    assert sh("hera", "systemctl is-active keepalived").strip() == "active"


@pytest.mark.destructive
def test_verify_reports_when_no_node_holds_the_vip(inventory: Path) -> None:
    for node in ("hera", "afrodita"):
        sh(node, "systemctl stop keepalived")
    try:
        wait_for_holders([], timeout=10)
        code, verdict = run_json("verify", str(inventory))
        assert code == 1 and f"no node holds VIP {VIP}" in verdict["problems"]
    finally:
        for node in ("hera", "afrodita"):
            sh(node, "systemctl start keepalived")
    wait_for_holders(["hera"], timeout=15)


@pytest.mark.destructive
@pytest.mark.parametrize("crash", [False, True], ids=["haproxy-dies", "keepalived-frozen"])
def test_failover_test_measures_both_ways_and_restores(inventory: Path, crash: bool) -> None:
    args = ["failover-test", str(inventory)] + (["--crash"] if crash else [])
    code, move = run_json(*args)
    assert code == 0, move
    assert move["away_from"] == "hera" and move["to"] == "afrodita"
    bound = 5.0 if crash else 3.0  # a frozen master: 3 x advert_int + skew
    assert 0 < move["failover_seconds"] < bound
    assert 0 < move["failback_seconds"] < 15
    print(
        f"failover-test crash={crash}: {move['failover_seconds']:.2f} s away, "
        f"{move['failback_seconds']:.2f} s back"
    )
    assert vip_holders() == ["hera"]
    for node in ("hera", "afrodita"):
        assert sh(node, "systemctl is-active haproxy keepalived").split() == ["active", "active"]
        assert "T" not in sh(node, "ps -o stat= -C keepalived")  # none left stopped


def test_switchover_moves_every_vip_and_back(inventory: Path) -> None:
    code, report = run_json("switchover", str(inventory), "--to", "afrodita")
    assert code == 0, report
    assert report["converged_after"] is not None and report["converged_after"] < 10
    assert vip_holders() == ["afrodita"]
    with urllib.request.urlopen(f"http://{VIP}/", timeout=3) as response:
        assert response.status == 200
    # up keeps the switchover: the standby flag is not a managed file.
    code, again = up_json(inventory)
    assert code == 0 and vip_holders() == ["afrodita"]
    assert any("hera is on standby" in note for note in again["notes"])
    code, report = run_json("switchover", str(inventory), "--back")
    assert code == 0, report
    assert vip_holders() == ["hera"]
    print(f"switchover there and back: {report['converged_after']} s back")


def test_redeploys_under_load_drop_no_request(inventory: Path, lab: labmod.Lab, tmp_path) -> None:
    """A bounded load on the VIP while `up` applies 10 successive haproxy.cfg changes."""
    counts: Counter[str] = Counter()
    errors: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + 180

    def client() -> None:
        sent = 0
        while not stop.is_set() and sent < 50_000 and time.monotonic() < deadline:
            sent += 1
            try:
                with urllib.request.urlopen(f"http://{VIP}/", timeout=5) as response:
                    response.read()
                    outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
            except Exception as exc:  # every failure counts, whatever its kind
                outcome = "failed"
                with lock:
                    errors.append(repr(exc))
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    reloads = 0
    try:
        for i in range(10):
            edited = write_inventory(
                tmp_path, lab, ("port: 8080}\n", f"port: 8080, weight: {40 + i}}}\n")
            )
            code, report = up_json(edited)
            assert code == 0, (
                i,
                report["notes"],
                {n: v["error"] for n, v in report["nodes"].items()},
            )
            reloads += sum(
                1
                for node in report["nodes"].values()
                for step in node["steps"]
                if step["step"] == "services" and "reload haproxy" in step["detail"]
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    sent = sum(counts.values())
    print(
        f"redeploys under load: {sent} requests sent, {sent - counts['ok']} failed,"
        f" {reloads} reloads"
    )
    assert reloads == 20  # 10 changes x 2 nodes
    assert sent > 1000
    assert counts["ok"] == sent, (counts, errors[:5])
