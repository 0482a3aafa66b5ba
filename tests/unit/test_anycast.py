"""Anycast offline: the desired state derived once, the FRR component's plan, its parsers.

FRR's runtime side (status, verify, withdraw) is tested in test_anycast_runtime.py.
"""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address, ip_interface
from pathlib import Path

from lbdeploy.components import for_pair, units
from lbdeploy.components.frr import (
    FRR_CONF,
    FRR_DAEMONS,
    FRR_RELOAD,
    GATE,
    UNIT,
)
from lbdeploy.components.frr import SECRET_LINES as FRR_SECRET_LINES
from lbdeploy.components.services import services_script
from lbdeploy.core.anycast import router_id
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, mask_secret_lines
from lbdeploy.core.health import pair_problems, servers_behind_vips
from lbdeploy.core.parsers import FileFact, ServiceFact
from lbdeploy.core.plan import Plan, make_plan
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

DATA = Path(__file__).parent / "data"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_BGP_PASS": "bgp-md5-pw"}


def case(name: str) -> Desired:
    return derive(load_inventory(DATA / "render" / name / "inventory.yaml", ENV), DATA)


def test_a_node_override_gives_its_own_asn_and_routers() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    hera, atenea = anycast.speaker("hera"), anycast.speaker("atenea")
    assert (hera.asn, atenea.asn) == (65101, 65102)
    assert [str(p.address) for p in atenea.peers] == ["192.0.2.2", "2001:db8:2::2"]
    assert hera.router_id == IPv4Address("192.0.2.11")


def test_an_ipv6_only_node_gets_a_router_id_that_is_no_vip() -> None:
    assert router_id(ip_address("2001:db8:2::c0a8:10b")) == IPv4Address("192.168.1.11")


def test_bgp_passwords_are_secrets_and_both_families_bind_nonlocal() -> None:
    pair = case("anycast").pair
    assert "bgp-md5-pw" in [s.reveal() for s in pair.secrets]
    assert pair.sysctls == ("net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind")


def test_services_resolve_to_anycast_vips() -> None:
    mixed = case("mixed").pair
    assert [(s.name, [str(v) for v in s.vips]) for s in mixed.services] == [
        ("admin", ["192.168.1.150"]),
        ("web", ["203.0.113.80"]),
    ]


def test_frr_is_wanted_only_with_anycast_and_keepalived_only_with_vrrp() -> None:
    names = {c: [x.name for x in for_pair(case(c).pair)] for c in ("anycast", "mixed", "lab")}
    assert "frr" in names["anycast"] and "keepalived" not in names["anycast"]
    assert {"frr", "keepalived"} <= set(names["mixed"])
    assert "frr" not in names["lab"]
    assert units(case("anycast").pair) == ("haproxy", UNIT, GATE)


def _converged(files: dict[str, ManagedFile], active: tuple[str, ...]) -> Facts:
    """A node that holds every file as rendered, with every unit running."""
    live = {f.path: FileFact(f.sha256, f.mode, f.owner, f.group) for f in files.values()}
    return Facts(
        lock="acquired",
        files=live,
        applied={path: fact.sha256 for path, fact in live.items()},
        services={u: ServiceFact("active", "enabled", 1) for u in active},
    )


def _plan_with(edited: tuple[str, ...]) -> tuple[Plan, Desired]:
    desired = case("anycast")
    node = desired.nodes[0]
    files = render_node(desired.pair, node)
    facts = _converged(files, units(desired.pair))
    for path in edited:
        old = facts.files[path]
        facts.files[path] = FileFact("0" * 64, old.mode, old.owner, old.group)
    return make_plan(desired.pair, node, files, facts), desired


def test_a_changed_frr_conf_goes_in_by_frr_reload_and_is_checked_first() -> None:
    plan, desired = _plan_with((FRR_CONF,))
    uploads = [u.file for c in plan.changes for u in c.uploads]
    assert [f.path for f in uploads] == [FRR_CONF]
    assert uploads[0].validate is not None and uploads[0].validate.argv[:2] == (
        "vtysh",
        "--dryrun",
    )
    assert (uploads[0].owner, uploads[0].group, uploads[0].mode) == ("frr", "frr", 0o640)
    assert [(a.service, a.action) for a in plan.services] == [(UNIT, "reload")]
    script = str(services_script(desired.pair, plan.services).lines[0].command)
    assert f"{FRR_RELOAD} --reload {FRR_CONF}" in script
    assert "systemctl restart frr" in script  # only when FRR is not running


def test_a_changed_daemons_file_restarts_frr() -> None:
    plan, _ = _plan_with((FRR_DAEMONS, FRR_CONF))
    assert [(a.service, a.action) for a in plan.services] == [(UNIT, "restart")]


def test_a_converged_anycast_node_plans_nothing_for_frr() -> None:
    plan, _ = _plan_with(())
    assert not [a for a in plan.services if a.service in (UNIT, GATE)]
    assert not [u for c in plan.changes for u in c.uploads if "frr" in u.file.path]


def test_an_old_bgp_password_is_masked_in_a_diff() -> None:
    """A password this run does not know (the one being replaced) never shows."""
    assert mask_secret_lines(" neighbor 192.0.2.1 password old-pw\n", [FRR_SECRET_LINES]) == (
        " neighbor 192.0.2.1 password ***\n"
    )


def _lo(node: str, *vips: str) -> dict:
    own = {"hera": "192.0.2.11/24", "afrodita": "192.0.2.12/24", "atenea": "192.0.2.13/24"}
    return {"eth1": (ip_interface(own[node]),), "lo": tuple(ip_interface(v) for v in vips)}


def test_up_waits_until_every_node_holds_every_anycast_vip_on_lo_and_answers_on_it() -> None:
    pair = case("anycast").pair
    names = ["hera", "afrodita", "atenea"]
    both = ("198.51.100.10/32", "2001:db8:100::10/128")
    answers = {"198.51.100.10:80": True, "[2001:db8:100::10]:80": True}
    addresses = {n: _lo(n, *both) for n in names}
    assert pair_problems(pair, names, addresses, dict.fromkeys(names, answers)) == []
    # atenea's gate is still in its hold-down; hera's HAProxy does not answer on IPv6.
    addresses["atenea"] = _lo("atenea", both[0])
    probes = {**dict.fromkeys(names, answers), "hera": {"198.51.100.10:80": True}}
    assert pair_problems(pair, names, addresses, probes) == [
        "nothing answers on [2001:db8:100::10]:80 on hera (service web)",
        "anycast VIP 2001:db8:100::10 is not on lo of atenea (not announced)",
    ]


def test_the_servers_of_an_anycast_service_are_read_from_a_node_that_serves_it() -> None:
    pair = case("anycast").pair
    rows = (("web", "web1", "UP"), ("web", "web2", "UP"))
    assert servers_behind_vips(pair, {}, {"hera": (), "afrodita": rows}) == {"web": rows}


def test_frr_conf_is_written_as_frr_shows_it_so_a_reload_changes_nothing() -> None:
    """frr-reload.py diffs the file against `show running-config`: a line FRR leaves out
    (a default value) or writes otherwise is a delta, and re-applying a BFD peer
    re-creates its session, which resets BGP (seen in the lab on every reload before
    this form). The BFD peers are bfdd's own, each written as FRR 8.4.4 and 10.3 show it
    (lab); bgpd's neighbors carry no `bfd`: FRR 10.3 starts no session whose BFD is down."""
    desired = case("anycast")
    conf = render_node(desired.pair, desired.nodes[0])[FRR_CONF].content
    assert " exit\n !\n peer 192.0.2.1\n  profile lbdeploy\n exit\n !\n" in conf
    assert " peer 2001:db8:2::1\n  profile lbdeploy\n exit\n !\nexit\n" in conf
    assert " bfd" not in conf.split("router bgp", 1)[1]
    profile = conf.split(" profile lbdeploy\n", 1)[1].split(" exit\n", 1)[0]
    assert profile == "  transmit-interval 100\n  receive-interval 100\n"  # multiplier 3: default
