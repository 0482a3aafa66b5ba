"""The roll's order: the one that moves each VIP least, backups first on a tie."""

from __future__ import annotations

from pathlib import Path

from lbdeploy.components.keepalived import version_change
from lbdeploy.core.desired import derive
from lbdeploy.core.facts import Facts
from lbdeploy.core.roll import RollNode, choose_order, count_moves
from lbdeploy.inventory import load_inventory

DATA = Path(__file__).parent / "data" / "render"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}

OLD = ({"VI_50": 101}, {"VI_50": 100})
NEW = ({"VI_50": 254}, {"VI_50": 253})


def _pair(running: tuple[dict[str, int] | None, ...], touched: bool = True) -> list[RollNode]:
    return [
        RollNode("hera", True, running[0], NEW[0], touched),
        RollNode("afrodita", False, running[1], NEW[1], touched),
    ]


def _names(nodes: list[RollNode]) -> list[str]:
    return [n.name for n in nodes]


def test_a_serving_pair_rolls_backups_first() -> None:
    nodes = _pair(NEW)
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 0
    assert _names(choose_order(nodes)) == ["afrodita", "hera"]


def test_a_cold_pair_starts_its_master_first_so_the_vip_lands_there_once() -> None:
    # Nothing serves, so no VIP held now can move; the master goes first all the same.
    nodes = _pair((None, None))
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 0
    assert _names(choose_order(nodes[::-1])) == ["hera", "afrodita"]


def test_a_new_vip_on_a_serving_pair_keeps_the_backups_first() -> None:
    # VI_51 serves nobody yet: its hand-over from backup to master does not count, and
    # the backup still meets the new config first.
    nodes = [
        RollNode("hera", True, NEW[0], {**NEW[0], "VI_51": 254}, True),
        RollNode("afrodita", False, NEW[1], {**NEW[1], "VI_51": 253}, True),
    ]
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 0
    assert _names(choose_order(nodes)) == ["afrodita", "hera"]


def test_raised_priorities_reach_the_master_first() -> None:
    # Backup first would make afrodita (253) outrank hera's running 101: two moves.
    nodes = _pair(OLD)
    assert count_moves(nodes[::-1]) == 2
    assert _names(choose_order(nodes)) == ["hera", "afrodita"]


def test_a_new_preferred_master_moves_the_vip_once_either_way() -> None:
    nodes = [
        RollNode("hera", False, {"VI_50": 101}, {"VI_50": 100}, True),
        RollNode("afrodita", True, {"VI_50": 100}, {"VI_50": 101}, True),
    ]
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 1
    assert _names(choose_order(nodes)) == ["hera", "afrodita"]


def test_untouched_nodes_keep_their_running_priorities() -> None:
    # Nothing reloads keepalived: no order moves anything, so backups go first.
    nodes = _pair(OLD, touched=False)
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 0
    assert _names(choose_order(nodes)) == ["afrodita", "hera"]


def test_each_vip_counts_its_own_moves() -> None:
    # Active-active (each node the preferred master of one VIP) raising its priorities:
    # whichever node goes first outranks the other on the other's VIP, which moves there
    # and back. No order avoids it; neither is preferred, so the rule (backups first,
    # here both are masters: inventory order) stands.
    nodes = [
        RollNode("hera", True, {"VI_50": 101, "VI_51": 100}, {"VI_50": 254, "VI_51": 253}, True),
        RollNode("zeus", True, {"VI_50": 100, "VI_51": 101}, {"VI_50": 253, "VI_51": 254}, True),
    ]
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 2
    assert _names(choose_order(nodes)) == ["hera", "zeus"]


def test_a_tie_in_the_live_priorities_is_judged_alike_in_both_orders() -> None:
    # A roll stopped half-way can leave equal priorities; the starting holder must not
    # depend on the order being judged.
    nodes = [
        RollNode("hera", True, {"VI_50": 100}, {"VI_50": 254}, True),
        RollNode("afrodita", False, {"VI_50": 100}, {"VI_50": 253}, True),
    ]
    # afrodita holds (the first name) in both: either order hands it to hera once.
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 1
    assert _names(choose_order(nodes)) == ["afrodita", "hera"]


def test_a_restart_brings_back_the_priorities_a_node_runs_not_the_desired_ones() -> None:
    """`restart` applies no config: with older live priorities it still goes backups first."""
    from lbdeploy.components.keepalived import roll_node
    from lbdeploy.core.facts import parse_facts
    from tests.unit.test_facts_and_plan import lab_states, recorded

    states = lab_states()
    # Both run the old numbering (101, 100); `up` would raise them masters first.
    old = {"hera": "VI_50 101", "afrodita": "VI_50 100"}
    nodes = []
    for name in ("hera", "afrodita"):
        live = "VI_50 254" if name == "hera" else "VI_50 253"
        raw = recorded(f"converged-{name}.txt").replace(live, old[name])
        facts = parse_facts(raw)
        restart = roll_node(states[name], facts, touched=True, new_config=False)
        assert restart.after == restart.running == {"VI_50": int(old[name].split()[1])}
        nodes.append(restart)
    assert [n.name for n in choose_order(nodes)] == ["afrodita", "hera"]


def test_faster_adverts_of_a_new_vrrp_version_roll_masters_first() -> None:
    # The backup, still on VRRPv2, drops the master's v3 adverts and waits out its old
    # 3 s timer; reloaded first, it would wait only 3 x advert_ms and split the pair.
    nodes = [
        RollNode("hera", True, NEW[0], NEW[0], True, "faster"),
        RollNode("afrodita", False, NEW[1], NEW[1], True, "faster"),
    ]
    assert _names(choose_order(nodes)) == ["hera", "afrodita"]


def test_slower_adverts_of_a_new_vrrp_version_roll_backups_first() -> None:
    # Back from advert_ms to VRRPv2: the backup reloaded first waits with the new 3 s.
    nodes = [
        RollNode("hera", True, OLD[0], NEW[0], True, "slower"),
        RollNode("afrodita", False, OLD[1], NEW[1], True, "slower"),
    ]
    assert count_moves(nodes) < count_moves(nodes[::-1])  # priorities alone: masters first
    assert _names(choose_order(nodes)) == ["afrodita", "hera"]


def test_turning_advert_ms_on_or_off_is_a_version_change_of_known_pace() -> None:
    inv = load_inventory(DATA / "fast_failover" / "inventory.yaml", ENV)
    hera = derive(inv, DATA).nodes[0]

    def facts(*lines: str) -> Facts:
        return Facts("none", sections={"vrrp-timing": list(lines)})

    assert version_change(hera, facts("VI_50 2 1", "VI_52 2 1")) == "faster"
    assert version_change(hera, facts("VI_50 3 0.1", "VI_52 2 1")) is None
    assert version_change(hera, facts()) is None  # no live config: nothing to roll
    classic = derive(load_inventory(DATA / "classic" / "inventory.yaml", ENV), DATA).nodes[0]
    assert version_change(classic, facts("VI_50 3 0.1")) == "slower"
