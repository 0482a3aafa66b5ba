"""The roll's order: the one that moves each VIP least, backups first on a tie."""

from __future__ import annotations

from lbdeploy.roll import RollNode, choose_order, count_moves

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
    nodes = _pair((None, None))
    # Backup first: it takes the VIP, then the master takes it back.
    assert count_moves(nodes[::-1]) == 1
    assert count_moves(nodes) == 0
    assert _names(choose_order(nodes)) == ["hera", "afrodita"]


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
    # Two VIPs, one preferred on each node (active-active), a cold pair: whichever
    # node starts first takes both, and one of them moves when the other node starts.
    nodes = [
        RollNode("hera", True, None, {"VI_50": 254, "VI_51": 253}, True),
        RollNode("zeus", True, None, {"VI_50": 253, "VI_51": 254}, True),
    ]
    assert count_moves(nodes) == count_moves(nodes[::-1]) == 1
    assert _names(choose_order(nodes)) == ["hera", "zeus"]
