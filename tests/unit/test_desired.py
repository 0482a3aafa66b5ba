"""Per-node values are derived from one inventory: roles, priorities, peers, SSH targets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lbdeploy.core.desired import derive
from lbdeploy.core.vrrp import instance_name as _instance_name
from lbdeploy.inventory import load_inventory
from lbdeploy.inventory.load import parse_inventory

DATA = Path(__file__).parent / "data" / "render"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}


def nodes_of(inv, base: Path):  # type: ignore[no-untyped-def]
    return list(derive(inv, base).nodes)


def test_first_node_is_master_and_the_rest_back_it_up_in_order() -> None:
    text = (
        (DATA / "classic" / "inventory.yaml")
        .read_text()
        .replace(
            "  afrodita: {host: 192.168.1.111}",
            "  afrodita: {host: 192.168.1.111}\n  atenea: {host: 192.168.1.112}",
        )
    )
    states = nodes_of(parse_inventory(text, "inv.yaml", ENV), Path("/etc/lb"))
    roles = [(s.name, s.vrrp[0].state, s.vrrp[0].priority) for s in states]
    assert roles == [
        ("hera", "MASTER", 254),
        ("afrodita", "BACKUP", 253),
        ("atenea", "BACKUP", 252),
    ]
    assert [s.is_master for s in states] == [True, False, False]


def test_vip_with_its_own_master_and_nopreempt() -> None:
    states = nodes_of(load_inventory(DATA / "rich" / "inventory.yaml", ENV), DATA / "rich")
    by_name = {s.name: s for s in states}
    second = {name: (s.vrrp[1].state, s.vrrp[1].priority) for name, s in by_name.items()}
    # nopreempt: keepalived honours it only when every node starts as BACKUP.
    assert second == {"hera": ("BACKUP", 254), "zeus": ("BACKUP", 253), "ares": ("BACKUP", 252)}
    assert by_name["zeus"].vrrp[0].state == "MASTER"
    assert by_name["hera"].is_master and by_name["zeus"].is_master
    assert not by_name["ares"].is_master


def test_unicast_peers_are_the_other_nodes() -> None:
    states = nodes_of(load_inventory(DATA / "rich" / "inventory.yaml", ENV), DATA / "rich")
    zeus = states[0].vrrp[0]
    assert str(zeus.unicast_src) == "10.0.5.11"
    assert [str(p) for p in zeus.unicast_peers] == ["10.0.5.12", "10.0.5.13"]
    assert states[0].vrrp[1].unicast_peers == ()


def test_ssh_targets_take_node_overrides_and_resolve_paths_beside_the_inventory() -> None:
    states = nodes_of(load_inventory(DATA / "rich" / "inventory.yaml", ENV), Path("/srv/inv"))
    targets = {s.name: (s.ssh.host, s.ssh.port, s.ssh.user, s.ssh.needs_sudo) for s in states}
    assert targets == {
        "zeus": ("zeus.example.net", 22, "root", False),
        "hera": ("10.0.5.12", 2222, "deploy", True),
        "ares": ("10.0.5.13", 2222, "root", False),
    }
    lab = nodes_of(load_inventory(DATA / "lab" / "inventory.yaml", {}), Path("/srv/inv"))
    assert lab[0].ssh.identity_file == Path("/srv/inv/../.lab/id_ed25519")
    assert lab[0].ssh.known_hosts == Path("/srv/inv/../.lab/known_hosts")


def test_secrets_never_show_in_reprs() -> None:
    inv = load_inventory(DATA / "classic" / "inventory.yaml", ENV)
    state = nodes_of(inv, DATA)[0]
    for text in (repr(inv), str(inv.model_dump()), repr(state), inv.model_dump_json()):
        assert "vrrp-pw" not in text and "stats-pw" not in text


def test_an_ipv6_vip_sharing_a_vrid_with_an_ipv4_one_gets_its_own_instance_name() -> None:
    assert _instance_name(50, 4, {50}) == "VI_50"
    assert _instance_name(50, 6, {50}) == "VI6_50"
    assert _instance_name(51, 6, {50}) == "VI_51"  # alone in its VRID: named as before


def test_advert_ms_is_keepalived_seconds_and_vrrp_version_3() -> None:
    inv = load_inventory(DATA / "fast_failover" / "inventory.yaml", ENV)
    fast, slow = derive(inv, DATA).pair.vips
    assert (fast.advert, fast.version, slow.advert, slow.version) == ("0.1", 3, "1", 2)
    shown = {ms: replace(fast, advert_ms=ms).advert for ms in (10, 250, 1500, 40950)}
    assert shown == {10: "0.01", 250: "0.25", 1500: "1.5", 40950: "40.95"}
