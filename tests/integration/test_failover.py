"""Failover of the VRRP pair beyond the simple cases (issue 23): a partition that heals.

VRRP is blocked with nftables on both nodes (each hears nothing from the other, as with
a broken link between them), so both become MASTER; then it is unblocked, and the pair
must come back to one holder by itself, without an operator.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import converged_inventory, run_json, sh, wait_for_holders

PAIR = ("hera", "afrodita")
BLOCK = (
    "nft add table inet lbdpart && nft add chain inet lbdpart input "
    "'{ type filter hook input priority 0; }' && "
    "nft add rule inet lbdpart input ip protocol 112 drop"
)
UNBLOCK = "nft delete table inet lbdpart"
PARTITION = 10.0  # seconds VRRP stays blocked
HEAL = 5.0  # seconds within which one holder must be left once it is unblocked


@pytest.fixture(scope="module")
def inventory(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    labmod.reset_nodes(lab)
    return converged_inventory(lab, tmp_path_factory.mktemp("failover"))


def test_a_healed_partition_leaves_one_holder_within_seconds(inventory: Path) -> None:
    assert wait_for_holders(["hera"], 15) >= 0
    blocked = time.monotonic()
    try:
        for node in PAIR:
            sh(node, BLOCK)
        split = wait_for_holders(["hera", "afrodita"], PARTITION)
        code, verdict = run_json("verify", str(inventory))
        assert code == 1
        assert f"split brain: VIP {labmod.VIP} is held by hera and afrodita" in verdict["problems"]
        time.sleep(max(0.0, PARTITION - (time.monotonic() - blocked)))
    finally:
        for node in PAIR:
            labmod.node_exec(node, UNBLOCK)
    healed = wait_for_holders(["hera"], HEAL)
    print(f"partition: split after {split:.2f} s; one holder {healed:.2f} s after the heal")
    assert run_json("verify", str(inventory))[0] == 0
