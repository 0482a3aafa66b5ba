"""The platform matrix: Debian 13 with ifupdown, Debian 13 with netplan + systemd-networkd
(Ubuntu's network stack), and a mixed pair whose network stacks are then re-applied under
it. Each node starts pristine with eth1's address flushed, so lbdeploy really brings it up
through that node's own stack."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import (
    VIP,
    lbdeploy,
    sh,
    up_json,
    vip_holders,
    wait_for_holders,
    write_inventory,
)

STANZA = "/etc/network/interfaces.d/lbdeploy-eth1"
NETPLAN = "/etc/netplan/60-lbdeploy-eth1.yaml"
PAIRS = {
    "debian13-ifupdown": ("trixie", "trixie"),
    "debian13-netplan": ("trixie-netplan", "trixie-netplan"),
}
MIXED = ("trixie-netplan", "bookworm")  # hera: Debian 13 with netplan; afrodita: 12, ifupdown


def answers(count: int = 10) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        with urllib.request.urlopen(f"http://{VIP}/", timeout=3) as response:
            seen[response.read().decode().strip()] += 1
    return seen


def serving_after(start: float, timeout: float) -> float:
    """Seconds from `start` until the VIP answers again (bounded poll)."""
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"http://{VIP}/", timeout=0.5) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the VIP did not serve again within {timeout} s")


@pytest.fixture(scope="module")
def matrix_lab(lab: labmod.Lab) -> Iterator[labmod.Lab]:
    """The matrix images, built once; the default nodes come back afterwards."""
    images = {variant: labmod.build_image(variant) for variant in labmod.VARIANTS}
    yield labmod.Lab(lab.state_dir, lab.image, images)
    labmod.reset_nodes(lab)


def start_pair(lab: labmod.Lab, variants: tuple[str, str]) -> dict[str, str]:
    images = dict(zip(("hera", "afrodita"), (lab.images[v] for v in variants), strict=True))
    labmod.reset_nodes(lab, images=images)
    for node in ("hera", "afrodita"):
        sh(node, "ip addr flush dev eth1")
    return dict(zip(("hera", "afrodita"), variants, strict=True))


def failover_figures(inventory: Path) -> dict[str, float]:
    figures = {}
    for name, extra in (("haproxy", ()), ("crash", ("--crash",))):
        result = lbdeploy("failover-test", str(inventory), "--json", *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        move = json.loads(result.stdout)
        figures[f"{name}-away"] = move["failover_seconds"]
        figures[f"{name}-back"] = move["failback_seconds"]
    return figures


def converge_serve_fail_over(matrix_lab: labmod.Lab, tmp_path: Path, pair: tuple[str, str]) -> Path:
    """A pristine pair of these variants: converged through each node's own stack, serving,
    a no-op re-run, a proven reload, failover figures; hera holds the VIP at the end. The
    inventory it last applied."""
    variants = start_pair(matrix_lab, pair)
    inventory = write_inventory(tmp_path, matrix_lab)
    code, report = up_json(inventory)
    assert code == 0, report
    for node, variant in variants.items():
        addresses = sh(node, "ip -4 -o addr show dev eth1")
        assert f"inet {labmod.NODES[0 if node == 'hera' else 1].public_address}/24" in addresses
        netplan = variant.endswith("netplan")
        assert sh(node, f"ls {NETPLAN} {STANZA} 2>/dev/null || true").split() == (
            [NETPLAN] if netplan else [STANZA]
        )
        platform = next(s for s in report["nodes"][node]["steps"] if s["step"] == "platform")
        assert ("network: netplan" if netplan else "network: ifupdown") in platform["detail"]
    assert set(answers()) == {"web1", "web2"}
    code, again = up_json(inventory)
    assert code == 0 and all(n["changed"] == 0 for n in again["nodes"].values()), again
    assert lbdeploy("verify", str(inventory)).returncode == 0
    # A reload is proven by a new worker on the stats socket, on HAProxy 2.6 and 3.0 alike.
    edited = write_inventory(tmp_path, matrix_lab, ("port: 8080}\n", "port: 8080, weight: 9}\n"))
    master_pids = {n: sh(n, "systemctl show -p MainPID --value haproxy") for n in variants}
    code, report = up_json(edited)
    assert code == 0, report
    for node in variants:
        steps = {s["step"]: s["detail"] for s in report["nodes"][node]["steps"]}
        assert steps["services"].startswith("reload haproxy")
        assert sh(node, "systemctl show -p MainPID --value haproxy") == master_pids[node]
    print(f"\n{'-'.join(pair)}: {failover_figures(edited)}")
    wait_for_holders(["hera"], timeout=15)
    return edited


@pytest.mark.destructive
@pytest.mark.parametrize("case", list(PAIRS))
def test_each_platform_converges_serves_and_fails_over(
    matrix_lab: labmod.Lab, tmp_path: Path, case: str
) -> None:
    converge_serve_fail_over(matrix_lab, tmp_path, PAIRS[case])


@pytest.mark.destructive
def test_a_mixed_pair_converges_and_its_vip_survives_each_network_stack_being_reapplied(
    matrix_lab: labmod.Lab, tmp_path: Path
) -> None:
    """Debian 13 with netplan beside Debian 12 with ifupdown, converged as above; then
    netplan: regenerate and restart systemd-networkd on the master, and a simulated reboot
    of the stack (flush + restart); ifupdown: `systemctl restart networking`."""
    inventory = converge_serve_fail_over(matrix_lab, tmp_path, MIXED)
    start = time.monotonic()
    sh("hera", "netplan generate && systemctl restart systemd-networkd")
    reapplied = serving_after(start, timeout=10)
    held = vip_holders()
    assert reapplied < 5 and len(held) == 1, (reapplied, held)
    start = time.monotonic()
    sh("hera", "ip addr flush dev eth1 && systemctl restart systemd-networkd")
    flushed = serving_after(start, timeout=10)
    wait_for_holders(["hera"], timeout=20)  # its address and its MASTER role come back
    assert "inet 172.29.150.11/24" in sh("hera", "ip -4 -o addr show dev eth1")
    lbdeploy("switchover", str(inventory), "--to", "afrodita")  # the ifupdown node holds it
    wait_for_holders(["afrodita"], timeout=15)
    start = time.monotonic()
    sh("afrodita", "systemctl restart networking")
    restarted = serving_after(start, timeout=10)
    assert lbdeploy("switchover", str(inventory), "--back").returncode == 0
    print(
        f"\nVIP serving again after: networkd re-applied {reapplied:.2f} s, stack flushed"
        f" {flushed:.2f} s, ifupdown networking restarted {restarted:.2f} s"
    )
    assert restarted < 5
    assert up_json(inventory)[0] == 0


@pytest.mark.destructive
def test_an_unsupported_node_is_refused_before_any_node_changes(
    matrix_lab: labmod.Lab, tmp_path: Path
) -> None:
    start_pair(matrix_lab, ("trixie", "trixie-netplan"))
    inventory = write_inventory(tmp_path, matrix_lab)
    sh("afrodita", "systemctl stop systemd-networkd.socket systemd-networkd")
    result = lbdeploy("up", str(inventory))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "afrodita: neither ifupdown nor netplan with systemd-networkd manages the network" in (
        output
    )
    assert "nothing was changed" in output
    for node in ("hera", "afrodita"):
        assert sh(node, "ls /etc/haproxy /etc/keepalived 2>/dev/null; echo end") == "end\n"
    sh("afrodita", "mv /usr/bin/apt-get /usr/bin/apt-get.off")
    result = lbdeploy("up", str(inventory))
    assert result.returncode == 1 and "not a Debian-family system (no apt-get)" in result.stdout
