"""IPv6 on the lab: a dual-stack pair and an IPv6-only pair, end to end.

The lab's networks are dual stack (docker-compose.test.yml); this machine reaches the
nodes' and the VIPs' IPv6 addresses over the bridge, so `curl -6` and `verify` talk
IPv6 to the VIP for real.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import (
    input_drop,
    input_undrop,
    lab_inventory_text,
    run_json,
    sh,
    up_json,
    vip_holders,
    wait_for_holders,
)

VIP4, VIP6 = labmod.VIP, labmod.VIP6
# Drop VRRP (IP protocol 112) arriving at a node: over IPv4 ("ip protocol"), or over IPv6
# ("meta nfproto ipv6 meta l4proto"), each in its own table.
VRRP4, VRRP6 = "ip protocol 112", "meta nfproto ipv6 meta l4proto 112"
MASTER_DOWN = 3 * 1 + 1  # seconds: 3 x advert_int, plus the skew
DEADLINE = 15.0


def inventory_for(lab: labmod.Lab, name: str, directory: Path) -> Path:
    path = directory / name
    path.write_text(lab_inventory_text(lab, name))
    return path


def curl(family: str, vip: str) -> str:
    """One GET through the VIP from this machine, over the given family ('-4' or '-6')."""
    host = f"[{vip}]" if ":" in vip else vip
    result = subprocess.run(
        ["curl", family, "-sS", "--max-time", "3", f"http://{host}/"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 0, f"curl {family} {host}: {result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def dual(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pair converged dual stack, from nodes whose eth1 lost both its addresses, so
    lbdeploy really brings IPv4 and IPv6 up through ifupdown."""
    labmod.reset_nodes(lab)
    for node in labmod.NODES:
        sh(node.name, "ip addr flush dev eth1 scope global")
    path = inventory_for(lab, "lab-dualstack.yaml", tmp_path_factory.mktemp("dual"))
    code, report = up_json(path)
    assert code == 0, report
    return path


def test_dual_stack_serves_both_families_through_both_vips(dual: Path) -> None:
    for node in labmod.NODES:
        stanza = sh(node.name, "cat /etc/network/interfaces.d/lbdeploy-eth1")
        assert "inet6 static" in stanza and node.public_address6 in stanza
        addresses = sh(node.name, "ip -o addr show dev eth1")
        assert f"inet {node.public_address}/24" in addresses
        assert f"inet6 {node.public_address6}/64" in addresses
        assert sh(node.name, "sysctl -n net.ipv6.ip_nonlocal_bind").strip() == "1"
    assert vip_holders(VIP4) == ["hera"] and vip_holders(VIP6) == ["hera"]
    over4 = Counter(curl("-4", VIP4) for _ in range(6))
    over6 = Counter(curl("-6", VIP6) for _ in range(6))
    assert over4 == Counter({"web1": 3, "web2": 3}), over4  # web2 is an IPv6 backend
    assert over6 == Counter({"web1": 3, "web2": 3}), over6  # web1 is an IPv4 backend
    code, report = up_json(dual)
    assert code == 0
    assert all(n["changed"] == 0 for n in report["nodes"].values()), report


def test_status_and_verify_see_each_family(dual: Path) -> None:
    code, statuses = run_json("status", str(dual))
    assert code == 0
    hera = next(s for s in statuses if s["node"] == "hera")
    assert hera["vrrp"] == {"VI_50": "MASTER", "VI_51": "MASTER"}
    assert sorted(hera["holds"]) == sorted([VIP4, VIP6])
    code, verdict = run_json("verify", str(dual))
    assert code == 0, verdict
    assert verdict["answers"] == {f"{VIP4}:80": "ok", f"[{VIP6}]:80": "ok"}


@pytest.mark.destructive
def test_failover_moves_both_vips_and_times_each(dual: Path) -> None:
    code, move = run_json("failover-test", str(dual))
    assert code == 0, move
    moves = [move, *move["also"]]
    assert sorted(m["vip"] for m in moves) == sorted([VIP4, VIP6])
    for one in moves:
        assert one["away_from"] == "hera" and one["to"] == "afrodita", one
        assert one["failover_seconds"] is not None and one["failback_seconds"] is not None, one
        print(
            f"failover-test {one['vip']}: {one['failover_seconds']:.2f} s away,"
            f" {one['failback_seconds']:.2f} s back"
        )
    assert vip_holders(VIP4) == ["hera"] and vip_holders(VIP6) == ["hera"]


@pytest.mark.destructive
def test_vrrp_failing_in_one_family_alone_makes_no_split_brain(dual: Path) -> None:
    """The sync group: afrodita hears no IPv6 adverts, yet takes neither VIP, because its
    IPv4 instance still hears hera (no instance of a group is MASTER unless all can be)."""
    try:
        sh("afrodita", input_drop("lbd6", VRRP6))
        seen = set()
        for _ in range(int(3 * MASTER_DOWN / 0.2)):  # well past afrodita's master-down timer
            seen.add((tuple(vip_holders(VIP4)), tuple(vip_holders(VIP6))))
            time.sleep(0.2)
        assert seen == {(("hera",), ("hera",))}, seen
        assert run_json("verify", str(dual))[0] == 0
    finally:
        labmod.node_exec("afrodita", input_undrop("lbd6"))


@pytest.mark.destructive
def test_verify_reports_split_brain_of_each_family(dual: Path) -> None:
    try:
        sh("afrodita", input_drop("lbd", VRRP4))
        sh("afrodita", input_drop("lbd6", VRRP6))
        wait_for_holders(["hera", "afrodita"], DEADLINE, VIP6)
        wait_for_holders(["hera", "afrodita"], DEADLINE, VIP4)
        code, verdict = run_json("verify", str(dual))
        assert code == 1
        for vip in (VIP4, VIP6):
            assert f"split brain: VIP {vip} is held by hera and afrodita" in verdict["problems"]
    finally:
        for table in ("lbd", "lbd6"):
            labmod.node_exec("afrodita", input_undrop(table))
    wait_for_holders(["hera"], DEADLINE, VIP6)
    wait_for_holders(["hera"], DEADLINE, VIP4)
    assert run_json("verify", str(dual))[0] == 0


@pytest.mark.destructive
def test_ipv6_only_pair_converges_over_ipv6_ssh_and_fails_over(
    lab: labmod.Lab, tmp_path: Path
) -> None:
    labmod.reset_nodes(lab)
    path = inventory_for(lab, "lab-ipv6.yaml", tmp_path)
    code, report = up_json(path)
    assert code == 0, report
    for node in labmod.NODES:
        config = sh(node.name, "cat /etc/keepalived/keepalived.conf")
        assert "version 3" in config and "auth_pass" not in config
        listen = sh(node.name, "cat /etc/haproxy/haproxy.cfg")
        assert f"bind [{VIP6}]:80" in listen and "server web1 [fd00:29:150::21]:8080" in listen
    assert Counter(curl("-6", VIP6) for _ in range(4)) == Counter({"web1": 2, "web2": 2})
    code, move = run_json("failover-test", str(path))
    assert code == 0, move
    assert move["vip"] == VIP6 and move["to"] == "afrodita", move
    print(
        f"failover-test IPv6 only: {move['failover_seconds']:.2f} s away,"
        f" {move['failback_seconds']:.2f} s back"
    )
    code, report = up_json(path)
    assert code == 0 and all(n["changed"] == 0 for n in report["nodes"].values()), report
    # Put the lab back to the pair the other tests expect.
    labmod.reset_nodes(lab)
