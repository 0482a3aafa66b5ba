"""Whether the nodes' HAProxy sync their stick tables (issue 23's state-keeping failover):
`show peers` parsed, `verify`'s judgement and what `status` shows.

The HAProxy 2.6 cases are `show peers` from two HAProxy 2.6.12 processes peering on
loopback (names and addresses replaced by the lab's); the 3.0 cases follow the format
strings of `peers_dump_peer` in src/peers.c at v3.0.0 (app_state= and learn_state= on
the id line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbdeploy.cli.display import status_table
from lbdeploy.components.haproxy import Haproxy
from lbdeploy.components.haproxy_runtime import parse_peers
from lbdeploy.core.desired import PairState, derive
from lbdeploy.core.health import NodeStatus, sync_problems, unsynced
from lbdeploy.inventory.load import parse_inventory

DATA = Path(__file__).parent / "data"
RENDER = DATA / "render"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}


def _lines(name: str) -> list[str]:
    return (DATA / "peers" / name).read_text().splitlines()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("haproxy-2.6-connected.txt", {"afrodita": "EST"}),
        ("haproxy-2.6-connecting.txt", {"afrodita": "CONN"}),
        ("haproxy-3.0-connected.txt", {"afrodita": "EST"}),
        ("haproxy-3.0-gone.txt", {"afrodita": "ESTA"}),  # was up, dropped: no session now
        # Connected, the handshake not done: no table flows yet.
        ("haproxy-2.6-handshaking.txt", {"afrodita": "HSHK"}),
    ],
)
def test_show_peers_gives_each_remote_peer_and_whether_its_session_is_up(
    case: str, expected: dict[str, str]
) -> None:
    assert parse_peers(_lines(case)) == expected


def test_nothing_from_the_socket_is_no_peer_at_all() -> None:
    assert parse_peers([]) == {}


def _pair(case: str) -> PairState:
    text = (RENDER / case / "inventory.yaml").read_text()
    return derive(parse_inventory(text, "inv.yaml", ENV), RENDER / case).pair


def _status(node: str, sync: dict[str, str], haproxy: str = "active") -> NodeStatus:
    return NodeStatus(node, haproxy=haproxy, sync=sync)


def test_verify_passes_when_both_sessions_are_up_and_names_each_side_that_is_not() -> None:
    pair = _pair("sticky")
    up = [_status("hera", {"afrodita": "EST"}), _status("afrodita", {"hera": "EST"})]
    assert sync_problems(pair, up) == []
    down = [_status("hera", {"afrodita": "CONN"}), _status("afrodita", {})]
    assert sync_problems(pair, down) == [
        "afrodita: stick tables not synced with hera (HAProxy does not list it as a peer;"
        " TCP port 10000 between the nodes)",
        "hera: stick tables not synced with afrodita (no HAProxy peers session, last"
        " handshake status CONN; TCP port 10000 between the nodes)",
    ]


def test_a_stopped_haproxy_is_reported_once_as_itself_not_as_a_sync_problem() -> None:
    pair = _pair("sticky")
    statuses = [_status("hera", {"afrodita": "CONN"}), _status("afrodita", {}, "inactive")]
    assert sync_problems(pair, statuses) == []


def test_a_pair_without_stick_tables_asks_nothing_and_judges_nothing() -> None:
    pair = _pair("classic")
    assert "haproxy-peers" not in Haproxy().status_lines(pair).text()
    assert "haproxy-peers" in Haproxy().status_lines(_pair("sticky")).text()
    assert sync_problems(pair, [_status("hera", {}), _status("afrodita", {})]) == []


def test_status_shows_with_whom_the_tables_are_synced() -> None:
    table = status_table(
        [_status("hera", {"afrodita": "EST"}), _status("afrodita", {"hera": "HSHK"})]
    )
    cells = [list(column.cells) for column in table.columns]
    haproxy = cells[[c.header for c in table.columns].index("haproxy")]
    assert [str(c) for c in haproxy] == [
        "active, tables synced with afrodita",
        "active, not synced with hera (HSHK)",
    ]


def test_up_names_each_session_missing_and_a_node_it_could_not_read() -> None:
    names = ["afrodita", "atenea", "hera"]
    seen = {"hera": {"afrodita": "EST", "atenea": "EST"}, "afrodita": {"hera": "EST"}}
    assert unsynced(names, seen) == [
        "afrodita: stick tables not synced with atenea (HAProxy does not list it as a peer)",
        "atenea: its HAProxy peers could not be read",
    ]
    seen["afrodita"]["atenea"] = "EST"
    seen["atenea"] = {"hera": "EST", "afrodita": "EST"}
    assert unsynced(names, seen) == []
