"""Keepalived priorities stay valid for every node count the inventory accepts.

The network refusals themselves (netmask, gateway, VIP, proxy loop, interface, node count)
are cases under data/inventory_errors/ with their exact place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbdeploy.core.desired import derive
from lbdeploy.core.vrrp import MASTER_PRIORITY
from lbdeploy.errors import InventoryError
from lbdeploy.inventory.addressing import TOP_PRIORITY
from lbdeploy.inventory.checks import MAX_NODES
from lbdeploy.inventory.load import parse_inventory


def _inventory(count: int) -> str:
    nodes = "".join(f"  n{i}: {{host: 10.0.{i // 199}.{i % 199 + 1}}}\n" for i in range(count))
    return (
        f"nodes:\n{nodes}interface: {{name: eth1, netmask: 255.255.0.0}}\n"
        "vrrp:\n  - {virtual_router_id: 50, vip: 10.0.0.200}\n"
        f"  - {{virtual_router_id: 51, vip: 10.0.0.201, master: n{count - 1}}}\n"
    )


@pytest.mark.parametrize("count", [1, 2, 3, MAX_NODES])
def test_priorities_are_254_down_and_stay_in_keepalived_range(count: int) -> None:
    states = derive(parse_inventory(_inventory(count), "inv.yaml", {}), Path("/etc/lb")).nodes
    for vip in range(2):
        priorities = sorted((s.vrrp[vip].priority for s in states), reverse=True)
        assert priorities == list(range(254, 254 - count, -1))
        assert all(1 <= p <= 254 for p in priorities)


def test_one_node_more_than_priorities_allow_is_refused_at_that_node() -> None:
    with pytest.raises(InventoryError) as raised:
        parse_inventory(_inventory(MAX_NODES + 1), "inv.yaml", {})
    assert [str(p) for p in raised.value.problems] == [
        "inv.yaml:103:9: nodes.n101: node 102 of 102: lbdeploy takes at most 101 nodes,"
        " one keepalived priority each, from 254 (the preferred master) down to 154"
    ]


def test_three_hundred_nodes_are_refused_with_the_priorities_they_would_get() -> None:
    with pytest.raises(InventoryError) as raised:
        parse_inventory(_inventory(300), "inv.yaml", {})
    [problem] = raised.value.problems
    assert problem.field == "nodes.n101"
    assert problem.message.startswith("node 102 of 300: lbdeploy takes at most 101 nodes")
    assert "from 254 (the preferred master) down to 154" in problem.message


def test_the_node_limit_counts_from_the_priority_desired_gives_the_master() -> None:
    assert TOP_PRIORITY == MASTER_PRIORITY
    assert TOP_PRIORITY - MAX_NODES + 1 >= 1
