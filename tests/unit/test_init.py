"""`lbdeploy init`: the inventory follows from what the nodes say, and `validate` accepts it."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from lbdeploy.core.discovery import init_script, parse_seen, propose, render_inventory
from lbdeploy.errors import UsageError
from lbdeploy.inventory.load import parse_inventory

VIP = IPv4Address("172.29.150.150")


def said(host: str, own: str, vip: str = "silent", adverts: str = "", held: bool = False) -> str:
    extra = "3: eth1    inet 172.29.150.150/24 scope global secondary eth1\n" if held else ""
    return (
        f"@@lbdeploy hostname\n{host}\n@@lbdeploy addresses\n"
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        "2: eth0    inet 172.29.149.11/24 brd 172.29.149.255 scope global eth0\n"
        f"3: eth1    inet {own}/24 brd 172.29.150.255 scope global eth1\n{extra}"
        "@@lbdeploy gateway\ndefault via 172.29.149.1 dev eth0\n"
        f"@@lbdeploy vip\n{vip}\n@@lbdeploy vrrp\n{adverts}"
    )


def test_the_public_interface_and_a_free_vrid_follow_from_the_nodes() -> None:
    seen = [
        parse_seen("10.0.0.1", said("hera", "172.29.150.11", adverts="50 172.29.150.99\n")),
        parse_seen("10.0.0.2", said("afrodita", "172.29.150.12")),
    ]
    proposal = propose(seen, VIP)
    assert proposal.names == ("hera", "afrodita") and proposal.interface == "eth1"
    assert proposal.vrid == 51  # 50 is another router's
    assert proposal.gateway is None  # the default route is on the management network
    text = render_inventory(
        proposal, [(None, "10.0.0.1", None), ("ops", "10.0.0.2", 2222)], VIP, {}
    )
    inventory = parse_inventory(text, "inv.yaml", {"LB_VRRP_PASS": "a", "LB_STATS_PASS": "b"})
    assert inventory.vrrp[0].virtual_router_id == 51
    assert inventory.nodes["afrodita"].port == 2222
    assert "hera is the preferred MASTER (priority 254), afrodita BACKUP (253)" in text


def test_run_twice_on_a_running_pair_it_proposes_the_same_values() -> None:
    own = "50 172.29.150.11\n"
    seen = [
        parse_seen("a", said("hera", "172.29.150.11", "answers", own, held=True)),
        parse_seen("b", said("afrodita", "172.29.150.12", "answers", own)),
    ]
    assert propose(seen, VIP).vrid == 50  # the pair's own adverts; its own VIP answers


def test_a_vip_in_use_or_outside_every_prefix_is_refused() -> None:
    busy = [parse_seen(n, said(n, a, "answers")) for n, a in (("a", "172.29.150.11"),)]
    with pytest.raises(UsageError, match="already answers on the network"):
        propose(busy, VIP)
    with pytest.raises(UsageError, match=r"no interface has a prefix that holds 10\.9\.9\.9"):
        propose(busy, IPv4Address("10.9.9.9"))


def test_the_init_script_is_read_only_sh() -> None:
    import subprocess

    text = init_script(VIP).text()
    assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0
    for verb in ("apt-get", "systemctl", "rm ", "mv ", "> /etc"):
        assert verb not in text
