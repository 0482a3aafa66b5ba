"""Stick tables and the peers that sync them: derived from the nodes, never typed (issue 23)."""

from __future__ import annotations

from pathlib import Path

from lbdeploy.components.haproxy import HAPROXY_CFG
from lbdeploy.core.desired import derive
from lbdeploy.core.render import render_node
from lbdeploy.inventory.load import parse_inventory

RENDER = Path(__file__).parent / "data" / "render"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}


def _config(case: str, *edits: tuple[str, str], node: int = 0) -> str:
    text = (RENDER / case / "inventory.yaml").read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    desired = derive(parse_inventory(text, "inv.yaml", ENV), RENDER / case)
    return render_node(desired.pair, desired.nodes[node])[HAPROXY_CFG].content


def test_a_pair_without_tables_has_no_peers_section_and_no_localpeer() -> None:
    text = _config("classic")
    assert "peers " not in text and "localpeer" not in text and "stick" not in text


def test_every_node_names_itself_as_the_local_peer_of_one_shared_section() -> None:
    hera, afrodita = _config("sticky", node=0), _config("sticky", node=1)
    section = [line for line in hera.splitlines() if line.startswith("    peer ")]
    assert section == [
        "    peer hera 192.168.1.110:10000",
        "    peer afrodita 192.168.1.111:10000",
    ]
    assert section == [line for line in afrodita.splitlines() if line.startswith("    peer ")]
    assert "    localpeer hera\n" in hera and "    localpeer afrodita\n" in afrodita
    # HAProxy ignores localpeer after a peers section: it must come first.
    assert hera.index("localpeer") < hera.index("peers lbdeploy")


def test_an_ipv6_only_pair_syncs_over_ipv6_on_the_port_given() -> None:
    text = _config(
        "ipv6only",
        ("services:\n", "haproxy: {peers_port: 10500}\nservices:\n"),
        ("    mode: tcp\n", "    mode: tcp\n    stick: {}\n"),
    )
    assert "    peer hera [2001:db8:1::110]:10500\n" in text
    assert "    peer afrodita [2001:db8:1::111]:10500\n" in text  # its address, not its host
    assert "    stick-table type ipv6 size 100k expire 30m peers lbdeploy\n" in text


def test_a_rate_limit_alone_keeps_entries_one_period() -> None:
    text = _config("sticky")
    api = text[text.index("listen api") :]
    assert "stick-table type ip size 100k expire 1s peers lbdeploy store http_req_rate(1s)" in api
    assert "stick on" not in api[: api.index("listen db")]
