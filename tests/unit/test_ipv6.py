"""IPv6 through the pure stages: facts, files for both stacks, plans and verdicts."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import yaml

from lbdeploy.components.network import netplan_file
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import parse_facts
from lbdeploy.core.health import NodeStatus, pair_problems, verify_problems
from lbdeploy.core.parsers import parse_addresses
from lbdeploy.core.plan import make_plan
from lbdeploy.core.platforms import Platform
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

DATA = Path(__file__).parent / "data"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}
V4, V6 = "192.168.1.150", "2001:db8:1::150"


def dual() -> Desired:
    return derive(load_inventory(DATA / "render" / "dualstack" / "inventory.yaml", ENV), DATA)


def test_addresses_of_both_families_are_read_and_link_local_ones_left_out() -> None:
    lines = [
        "2: eth1    inet 192.168.1.110/24 brd 192.168.1.255 scope global eth1",
        "2: eth1    inet6 2001:db8:1::110/64 scope global ",
        "2: eth1    inet6 2001:db8:1::150/64 scope global nodad ",
        "2: eth1    inet6 fe80::42:acff:fe1d:960b/64 scope link ",
    ]
    assert parse_addresses(lines) == {
        "eth1": (
            IPv4Interface("192.168.1.110/24"),
            IPv6Interface("2001:db8:1::110/64"),
            IPv6Interface("2001:db8:1::150/64"),
        )
    }


def test_a_netplan_node_gets_both_addresses_and_the_ipv6_route() -> None:
    desired = dual()
    files = render_node(desired.pair, desired.nodes[0], Platform("debian", "13", "netplan"))
    netplan = yaml.safe_load(files[netplan_file("eth1")].content)
    eth1 = netplan["network"]["ethernets"]["eth1"]
    assert eth1["addresses"] == ["192.168.1.110/24", "2001:db8:1::110/64"]
    assert eth1["routes"] == [{"to": "default", "via": "2001:db8:1::1"}]


def test_a_missing_ipv6_address_is_put_on_through_ifupdown() -> None:
    desired = dual()
    node = desired.nodes[0]
    facts = parse_facts((DATA / "facts" / "converged-hera.txt").read_text())
    facts = replace(facts, addresses={"eth1": (IPv4Interface("192.168.1.110/24"),)})
    plan = make_plan(desired.pair, node, render_node(desired.pair, node), facts)
    network = next(c for c in plan.changes if c.step == "network")
    texts = [c.text() for c in network.commands]
    assert texts[0] == "ifup eth1 || true"
    assert (
        "ip -o addr show dev eth1 | grep -qF ' inet6 2001:db8:1::110/'"
        " || ip addr add 2001:db8:1::110/64 dev eth1"
    ) in texts
    assert "with 192.168.1.110 and 2001:db8:1::110" in network.why


def test_ipv6_nonlocal_bind_must_be_live_too() -> None:
    desired = dual()
    node = desired.nodes[0]
    facts = parse_facts((DATA / "facts" / "converged-hera.txt").read_text())
    facts = replace(facts, sections={**facts.sections, "sysctl": ["net.ipv4.ip_nonlocal_bind=1"]})
    plan = make_plan(desired.pair, node, render_node(desired.pair, node), facts)
    sysctl = next(c for c in plan.changes if c.step == "sysctl")
    assert [c.text() for c in sysctl.commands] == ["sysctl -q -p /etc/sysctl.d/60-lbdeploy.conf"]
    assert desired.pair.sysctls == ("net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind")


def test_the_pair_serves_only_when_each_vip_answers_in_its_family() -> None:
    pair = dual().pair
    held = {
        "hera": {
            "eth1": (IPv4Interface(f"{V4}/24"), IPv6Interface(f"{V6}/64")),
        },
        "afrodita": {"eth1": ()},
    }
    both = {"hera": {f"{V4}:80": True, f"[{V6}]:80": True}}
    assert pair_problems(pair, ["hera", "afrodita"], held, both) == []
    v4_only = {"hera": {f"{V4}:80": True, f"[{V6}]:80": False}}
    assert pair_problems(pair, ["hera", "afrodita"], held, v4_only) == [
        f"nothing answers on [{V6}]:80 (service web)"
    ]


def test_verify_names_the_split_vip_and_the_target_of_its_family() -> None:
    pair = dual().pair
    statuses = [
        NodeStatus("hera", holds=(V4, V6), haproxy="active"),
        NodeStatus("afrodita", holds=(V6,), haproxy="active"),
    ]
    answers = {f"{V4}:80": "ok", f"[{V6}]:80": "connection refused"}
    assert verify_problems(pair, statuses, answers) == [
        f"split brain: VIP {V6} is held by hera and afrodita",
        f"service web on [{V6}]:80: connection refused",
    ]


def test_unicast_peers_and_sync_groups_follow_the_families() -> None:
    desired = dual()
    hera = desired.nodes[0]
    v4, v6 = hera.vrrp
    assert v4.unicast_src is None and v6.unicast_src == IPv6Address("2001:db8:1::110")
    assert v6.unicast_peers == (IPv6Address("2001:db8:1::111"),)
    assert v6.instance.version == 3 and v4.instance.version == 2
    assert desired.pair.sync_groups == (("lbdeploy_hera", ("VI_50", "VI_51")),)
