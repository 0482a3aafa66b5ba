"""Anycast at runtime, offline: FRR's JSON parsed, a node's announcements judged.

Everything under data/facts/frr/ was recorded from FRR 8.4.4's own daemons (zebra,
bgpd, bfdd) in two private network namespaces, the golden `anycast` case's frr.conf
on one side and a router on the other, by data/facts/frr/record.sh; the status-*.txt
files are the output of lbdeploy's own status script run there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address, ip_interface
from pathlib import Path

import pytest

from lbdeploy.components.frr import GATE, UNIT
from lbdeploy.components.frr_runtime import (
    anycast_status,
    parse_advertised,
    parse_bfd_peers,
    parse_bgp_summary,
    peer_statuses,
)
from lbdeploy.core.bgp import (
    AnycastStatus,
    PeerStatus,
    node_problems,
    not_back,
    not_yet_announced,
    parse_connections,
    parse_elapsed,
    session_problems,
    still_announced,
    unannounced,
    uncovered,
)
from lbdeploy.core.facts import Facts
from lbdeploy.core.health import NodeStatus, verify_problems
from lbdeploy.core.parsers import ServiceFact
from lbdeploy.errors import LbdeployError
from lbdeploy.ops.anycast_failover import anycast_outcome, choose_node, stopped_announcing
from lbdeploy.ops.events import events_script, parse_events
from lbdeploy.ops.failover import Outcome
from lbdeploy.ops.restart import Mode, withdraws_around
from lbdeploy.scripts.script import split_sections
from tests.unit.test_anycast import case
from tests.unit.test_health import journal_entry

FRR = Path(__file__).parent / "data" / "facts" / "frr"
VIP4, VIP6 = "198.51.100.10", "2001:db8:100::10"


def lines(name: str) -> list[str]:
    return (FRR / name).read_text().splitlines()


def test_a_summary_gives_each_session_its_state_uptime_and_prefixes_sent() -> None:
    sessions = {s.peer: s for s in parse_bgp_summary(lines("summary-announcing.json"))}
    v4, v6 = sessions["192.0.2.1"], sessions["2001:db8:2::1"]
    assert (v4.afi, v4.up, v4.sent, v4.remote_as) == ("ipv4Unicast", True, 1, "65000")
    assert (v6.afi, v6.up, v6.sent) == ("ipv6Unicast", True, 1)
    assert v4.uptime_s is not None and v4.uptime_s >= 0


def test_a_session_shut_down_here_is_idle_admin_and_sends_nothing() -> None:
    sessions = {s.peer: s for s in parse_bgp_summary(lines("summary-admin-down.json"))}
    assert (sessions["2001:db8:2::1"].state, sessions["2001:db8:2::1"].sent) == ("Idle (Admin)", 0)
    assert sessions["192.0.2.1"].up


def test_a_lost_link_leaves_every_session_active_and_bfd_down() -> None:
    sessions = parse_bgp_summary(lines("summary-link-down.json"))
    assert {s.state for s in sessions} == {"Active"}
    assert parse_bfd_peers(lines("bfd-down.json")) == {"192.0.2.1": "down", "2001:db8:2::1": "down"}
    assert parse_bfd_peers(lines("bfd-up.json")) == {"192.0.2.1": "up", "2001:db8:2::1": "up"}


@pytest.mark.parametrize(
    ("recording", "announced"),
    [
        ("advertised-v4.json", (VIP4,)),
        ("advertised-v6.json", (VIP6,)),
        ("advertised-v4-withdrawn.json", ()),  # `no network`: the short form, no header
        ("advertised-no-such-neighbor.json", ()),  # another node's router
        ("advertised-not-activated.json", ()),  # a family the session does not carry
    ],
)
def test_advertised_routes_parse_to_the_addresses_announced(
    recording: str, announced: tuple[str, ...]
) -> None:
    assert parse_advertised(lines(recording)) == announced


def test_frr_not_running_parses_to_nothing() -> None:
    assert parse_bgp_summary([]) == [] and parse_bfd_peers([]) == {}
    assert parse_advertised([]) == () and parse_advertised(["% not json"]) == ()


def test_up_waits_for_each_router_s_session_and_its_bfd() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None

    def judged(summary: str, bfd: str) -> list[str]:
        sections = {"bgp": lines(summary), "bfd": lines(bfd)}
        return session_problems(anycast, "hera", peer_statuses(anycast, sections))

    assert judged("summary-announcing.json", "bfd-up.json") == []
    assert judged("summary-link-down.json", "bfd-down.json") == [
        "hera: peer 192.0.2.1: BGP Active, BFD down",
        "hera: peer 2001:db8:2::1: BGP Active, BFD down",
    ]
    # BGP comes up first, BFD after it (the router makes its session then): not yet.
    assert judged("summary-announcing.json", "bfd-down.json") == [
        "hera: peer 192.0.2.1: BGP Established, BFD down",
        "hera: peer 2001:db8:2::1: BGP Established, BFD down",
    ]
    assert session_problems(anycast, "hera", ()) == [
        "hera: FRR has no session with 192.0.2.1",
        "hera: FRR has no session with 2001:db8:2::1",
    ]


def node_facts(on_lo: tuple[str, ...] = (VIP4, VIP6), frr: str = "active") -> Facts:
    lo = tuple(ip_interface(f"{a}/{32 if ':' not in a else 128}") for a in on_lo)
    return Facts(
        lock="acquired",
        addresses={"lo": (ip_interface("127.0.0.1/8"), *lo)},
        services={
            UNIT: ServiceFact(frr, "enabled", 1),
            GATE: ServiceFact("active" if on_lo else "inactive", "enabled", 1),
        },
    )


def recorded(name: str, on_lo: tuple[str, ...] = (VIP4, VIP6)) -> AnycastStatus:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    return anycast_status(anycast, node_facts(on_lo), split_sections((FRR / name).read_text()))


def test_status_reads_each_peer_of_the_node_and_what_it_announces_there() -> None:
    status = recorded("status-announcing.txt")
    assert [(p.peer, p.family, p.state, p.bfd, p.announced) for p in status.peers] == [
        ("192.0.2.1", 4, "Established", "up", (VIP4,)),
        ("2001:db8:2::1", 6, "Established", "up", (VIP6,)),
    ]
    assert (status.frr, status.gate, status.on_lo, status.withdrawn) == (
        "active",
        "active",
        (VIP4, VIP6),
        False,
    )
    assert status.announcing == (VIP4, VIP6)


def problems(
    name: str, haproxy: str = "active", on_lo: tuple[str, ...] = (VIP4, VIP6)
) -> list[str]:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    return node_problems(anycast, "hera", haproxy, recorded(name, on_lo))


def test_a_serving_node_announcing_everything_everywhere_is_right() -> None:
    assert problems("status-announcing.txt") == []


def test_a_withdrawn_node_announcing_nothing_is_right_and_said() -> None:
    assert recorded("status-withdrawn.txt").withdrawn
    assert recorded("status-withdrawn.txt").announcing == ()
    assert problems("status-withdrawn.txt") == []


def test_a_serving_node_that_does_not_announce_is_named_with_the_gate() -> None:
    status = replace(recorded("status-withdrawn.txt", on_lo=()), withdrawn=False)
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    assert node_problems(anycast, "hera", "active", status) == [
        f"hera: VIP {VIP4} not announced to 192.0.2.1 while haproxy serves"
        " (not on lo; the gate is inactive)",
        f"hera: VIP {VIP6} not announced to 2001:db8:2::1 while haproxy serves"
        " (not on lo; the gate is inactive)",
    ]


def test_a_node_announcing_while_haproxy_is_down_is_named() -> None:
    assert problems("status-announcing.txt", haproxy="failed") == [
        f"hera: VIP {VIP4} announced to 192.0.2.1 while haproxy is failed",
        f"hera: VIP {VIP6} announced to 2001:db8:2::1 while haproxy is failed",
    ]


def test_a_lost_router_is_named_with_its_session_and_bfd() -> None:
    assert problems("status-link-down.txt") == [
        "hera: peer 192.0.2.1: BGP Active, BFD down",
        "hera: peer 2001:db8:2::1: BGP Active, BFD down",
    ]


def test_frr_down_is_one_problem_not_one_per_peer() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    status = replace(recorded("status-announcing.txt"), frr="inactive", peers=())
    assert node_problems(anycast, "hera", "active", status) == ["hera: frr is inactive"]


def test_a_vip_no_node_announces_is_named() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    out = recorded("status-withdrawn.txt")
    assert unannounced(anycast, {"hera": out, "afrodita": out}) == [
        f"no node announces anycast VIP {VIP4}",
        f"no node announces anycast VIP {VIP6}",
    ]
    assert unannounced(anycast, {"hera": out, "afrodita": recorded("status-announcing.txt")}) == []


def test_verify_names_a_node_that_announces_but_does_not_answer() -> None:
    pair = case("anycast").pair
    status = NodeStatus(
        "hera",
        haproxy="active",
        anycast=recorded("status-announcing.txt"),
        http={f"{VIP4}:80": "200", f"[{VIP6}]:80": "none"},
    )
    answers = {f"{VIP4}:80": "ok", f"[{VIP6}]:80": "ok"}
    found = verify_problems(pair, [status], answers)
    assert found == [f"hera: announces {VIP6} but [{VIP6}]:80 does not answer there (service web)"]


def peers(name: str) -> tuple[PeerStatus, ...]:
    return recorded(name).peers


def test_withdrawal_is_done_when_no_router_is_sent_any_vip() -> None:
    assert still_announced(peers("status-withdrawn.txt")) == []
    assert still_announced(peers("status-announcing.txt")) == [
        f"{VIP4} to 192.0.2.1",
        f"{VIP6} to 2001:db8:2::1",
    ]


def test_a_node_is_back_when_every_router_up_has_every_vip_of_its_family() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    assert not_yet_announced(anycast, "hera", peers("status-announcing.txt")) == []
    assert not_yet_announced(anycast, "hera", peers("status-withdrawn.txt")) == [
        f"{VIP4} to 192.0.2.1",
        f"{VIP6} to 2001:db8:2::1",
    ]


def test_a_node_with_no_session_up_is_not_taken_for_announced() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    assert not_yet_announced(anycast, "hera", peers("status-link-down.txt")) == [
        "no BGP session is up"
    ]


def test_a_router_that_is_down_is_not_waited_for() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    one_down = tuple(
        replace(p, state="Active", announced=()) if p.family == 6 else p
        for p in peers("status-announcing.txt")
    )
    assert not_yet_announced(anycast, "hera", one_down) == []


def test_after_a_change_a_node_is_back_when_it_announces_what_it_did_before() -> None:
    """up's roll: a session that came up first is not enough; every router served before
    the change must have its VIPs again (a router down before is not waited for)."""
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    before = peers("status-announcing.txt")
    assert not_back(anycast, "hera", before, before) == []
    assert not_back(anycast, "hera", before, peers("status-withdrawn.txt")) == [
        f"{VIP4} to 192.0.2.1",
        f"{VIP6} to 2001:db8:2::1",
    ]
    assert not_back(anycast, "hera", before, peers("status-link-down.txt")) == [
        f"{VIP4} to 192.0.2.1",
        f"{VIP6} to 2001:db8:2::1",
    ]
    ipv4_first = tuple(
        replace(p, state="Connect", announced=()) if p.family == 6 else p for p in before
    )
    assert not_back(anycast, "hera", before, ipv4_first) == [f"{VIP6} to 2001:db8:2::1"]
    # Up again but not yet sent: still waited for.
    sent_later = tuple(replace(p, announced=()) if p.family == 6 else p for p in before)
    assert not_back(anycast, "hera", before, sent_later) == [f"{VIP6} to 2001:db8:2::1"]
    assert not_back(anycast, "hera", ipv4_first, ipv4_first) == []  # IPv6 router down before


def test_a_router_or_vip_the_change_removed_is_not_waited_for() -> None:
    """Removing a router or an anycast VIP from the inventory: the node never announces it
    again, and the roll must not wait 30 s and fail for that."""
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    before, gone = peers("status-announcing.txt"), peers("status-withdrawn.txt")
    speaker = anycast.speaker("hera")
    ipv4_only = replace(
        anycast,
        speakers=tuple(
            replace(s, peers=tuple(p for p in s.peers if p.version == 4)) for s in anycast.speakers
        ),
    )
    assert speaker.peers != ipv4_only.speaker("hera").peers
    assert not_back(ipv4_only, "hera", before, gone) == [f"{VIP4} to 192.0.2.1"]
    no_vip6 = replace(anycast, vips=tuple(v for v in anycast.vips if v.version == 4))
    assert not_back(no_vip6, "hera", before, gone) == [f"{VIP4} to 192.0.2.1"]


def test_withdrawing_the_last_node_announcing_a_vip_is_refused() -> None:
    anycast = case("anycast").pair.anycast
    assert anycast is not None
    serving, out = peers("status-announcing.txt"), peers("status-withdrawn.txt")
    assert uncovered(anycast, "hera", {"afrodita": serving, "atenea": out}) == []
    assert uncovered(anycast, "hera", {"hera": serving, "afrodita": out, "atenea": out}) == [
        VIP4,
        VIP6,
    ]


def test_connections_and_node_timings_parse() -> None:
    assert parse_connections([f"{VIP4} 3", f"{VIP6} 0", "garbage"]) == {VIP4: 3, VIP6: 0}
    assert parse_elapsed(["done 1796303750702 1796303750812"]) == 0.11
    assert parse_elapsed(["timeout 1796303750702 1796303760812"]) is None
    assert parse_elapsed([]) is None


@pytest.mark.parametrize(
    ("services", "mode", "around"),
    [
        (("haproxy",), "graceful", False),  # a proven reload cuts nothing
        (("haproxy",), "reload", False),
        (("haproxy",), "hard", True),  # HAProxy's connections, and the gate's VIPs
        ((UNIT,), "graceful", True),  # the sessions drop
        ((GATE,), "graceful", True),  # the VIPs leave lo
        (("haproxy", UNIT, GATE), "reload", False),
    ],
)
def test_a_restart_that_cuts_connections_withdraws_the_node_around_it(
    services: tuple[str, ...], mode: Mode, around: bool
) -> None:
    assert withdraws_around(True, services, mode) is around
    assert withdraws_around(False, services, mode) is False  # no anycast: nothing to withdraw


def test_failover_picks_the_first_node_announcing_everywhere_and_needs_another() -> None:
    pair = case("anycast").pair
    serving, out = peers("status-announcing.txt"), peers("status-withdrawn.txt")
    vip = ip_address(VIP4)
    assert choose_node(pair, vip, None, {"hera": out, "afrodita": serving, "atenea": serving}) == (
        "afrodita"
    )
    with pytest.raises(LbdeployError, match=r"hera does not announce 198\.51\.100\.10"):
        choose_node(pair, vip, "hera", {"hera": out, "afrodita": serving})
    with pytest.raises(LbdeployError, match="no node but hera announces"):
        choose_node(pair, vip, None, {"hera": serving, "afrodita": out})


def test_failover_names_another_node_that_stopped_announcing() -> None:
    serving, out = peers("status-announcing.txt"), peers("status-withdrawn.txt")
    assert stopped_announcing(VIP4, {"afrodita": serving}, {"afrodita": serving}) == []
    assert stopped_announcing(VIP4, {"afrodita": serving}, {"afrodita": out}) == [
        f"afrodita stopped announcing {VIP4} to 192.0.2.1"
    ]
    assert stopped_announcing(VIP4, {"afrodita": serving}, {}) == [
        f"afrodita stopped announcing {VIP4} to 192.0.2.1"
    ]


@pytest.mark.parametrize(
    ("withdrawn", "returned", "stopped", "outcome"),
    [
        (0.11, 5.2, [], Outcome.MOVED_AND_BACK),
        (None, 5.2, [], Outcome.DID_NOT_MOVE),
        (0.11, None, [], Outcome.DID_NOT_RETURN),
        (0.11, 5.2, ["afrodita stopped announcing"], Outcome.OTHERS_STOPPED),
    ],
)
def test_an_anycast_failover_passes_only_withdrawn_covered_and_back(
    withdrawn: float | None, returned: float | None, stopped: list[str], outcome: Outcome
) -> None:
    assert anycast_outcome(withdrawn, returned, stopped) is outcome
    assert outcome.ok is (outcome is Outcome.MOVED_AND_BACK)


def bgpd_journal() -> list[str]:
    """bgpd's recorded log as `journalctl -o short-unix` shows it: through syslog the
    message text is the same, under the identifier bgpd (lib/zlog_targets.c)."""
    found = []
    for line in lines("bgpd-hera.log"):
        day, clock, daemon, message = line.split(" ", 3)
        if daemon == "BGP:":
            at = datetime.strptime(f"{day} {clock}", "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC)
            found.append(f"{at.timestamp():.6f} hera bgpd[4242]: {message}")
    return found


def test_events_say_each_session_up_and_down_and_each_bfd_loss() -> None:
    found = parse_events("hera", {"units": bgpd_journal()})
    said = [(e.source, e.message) for e in found]
    assert said[:4] == [
        ("bgp", "session with 192.0.2.1 (vm) up"),
        ("bgp", "session with 2001:db8:2::1 (vm) up"),
        ("bfd", "Cease/BFD Down (6/10) sent to 192.0.2.1"),
        ("bgp", "session with 192.0.2.1 (vm) down: BGP Notification send"),
    ]
    assert ("bgp", "session with 192.0.2.1 (vm) down: Interface down") in said
    assert ("bgp", "Cease/Administrative Shutdown (6/2) sent to 2001:db8:2::1") in said
    assert not [m for _, m in said if "End-of-RIB" in m or "Configuration Read" in m]


def test_events_say_announce_and_withdraw_from_the_gate_and_from_lbdeploy() -> None:
    """systemd's lines in Debian 12's form (unit name and description); not recorded
    here (no systemd): the lab replaces them with a recording."""
    gate = (
        "lbdeploy-anycast.service - lbdeploy anycast gate: the anycast VIPs on lo"
        " while HAProxy runs"
    )
    units = [
        f"1764090000.000000 hera systemd[1]: Stopping {gate}...",
        f"1764090000.010000 hera systemd[1]: Stopped {gate}.",
        "1764090000.020000 hera systemd[1]: Stopped haproxy.service - HAProxy Load Balancer.",
        f"1764090001.000000 hera systemd[1]: Starting {gate}...",
        f"1764090006.000000 hera systemd[1]: Finished {gate}.",
        "1764090007.000000 hera systemd[1]: Started frr.service - FRRouting.",
        "1764090008.000000 hera watchfrr[99]: [QDG3Y-BY5TN] bgpd state -> up : connect succeeded",
    ]
    own = [journal_entry("0", "lbdeploy-anycast", "withdrew the anycast VIPs", "1764090009000000")]
    found = parse_events("hera", {"units": units, "lbdeploy": own})
    assert [(e.source, e.message.split(":")[0]) for e in found] == [
        ("anycast", "withdrew the anycast VIPs"),
        ("anycast", "withdraw"),
        ("anycast", "withdrawn"),
        ("haproxy", "Stopped haproxy.service - HAProxy Load Balancer."),
        ("anycast", "hold-down started"),
        ("anycast", "announce"),
        ("frr", "Started frr.service - FRRouting."),
    ]


def test_events_read_frr_and_the_gate_and_lbdeploys_anycast_tag() -> None:
    text = events_script("10m").text()
    assert "-u frr -u lbdeploy-anycast" in text
    assert "-t lbdeploy-anycast _UID=0" in text
