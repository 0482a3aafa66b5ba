"""Anycast on the lab (issue 22): three nodes announce the anycast VIPs over BGP to a
real FRR router, which spreads one client's connections over them with ECMP.

The router (lab/router/) and the client (behind it, on the edge network) are the lab's,
as a user's upstream network is theirs: lbdeploy configures only the LB nodes. Times are
taken with the host's clock on both sides (containers share it): the trigger is stamped
here; a bounded loop inside the router polls its kernel route every 10 ms and stamps the
last look that saw the old route and the first that saw the new one, so a change is
known between two instants (further apart when the machine is loaded)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import lab as labmod
from lab.probes import (
    change_span,
    client_load,
    gaps_until_now,
    link_local,
    load_results,
    nexthops,
    route_gaps,
    router_watch,
    wait_nexthops,
    watched,
)
from tests.integration.helpers import (
    lab_inventory_text,
    lbdeploy,
    run_json,
    sh,
    up_json,
    vip_holders,
)

NODES = tuple(n.name for n in labmod.LB_NODES)
ADDRESS = {n.name: n.public_address for n in labmod.LB_NODES}
VIP, VIP6 = labmod.ANYCAST_VIP, labmod.ANYCAST_VIP6
HOLD_DOWN = 5.0  # seconds the gate waits before it announces again (anycast-gate.service)
ADMIN = "/run/lbdeploy-haproxy/admin.sock"
PASSWORD = "lab-bgp-md5"  # the sessions' TCP-MD5 key, in lab/router's frr.conf too


@pytest.fixture(scope="module")
def anycast(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three bare nodes converged as an anycast set; they are the pair's again after."""
    labmod.reset_nodes(lab, NODES)
    path = tmp_path_factory.mktemp("anycast") / "inventory.yaml"
    path.write_text(lab_inventory_text(lab, "lab-anycast.yaml"))
    code, report = up_json(path)
    assert code == 0, json.dumps(report, indent=1)[-4000:]
    # `up` ends when every node announces (its gate open) and serves, not before.
    assert report["converged_after"] is not None, report["notes"]
    assert "web: 2/2 servers UP" in report["notes"]
    assert "BGP: every node has its session with each of its routers up" in report["notes"]
    wait_nexthops(VIP, set(ADDRESS.values()), timeout=2)
    # The router asks a TCP-MD5 password (lab/router): the sessions above carry it; it
    # is in frr.conf for FRR alone (Debian's modes), and never printed.
    assert PASSWORD not in json.dumps(report)
    for node in NODES:
        assert sh(node, "stat -c '%a %U:%G' /etc/frr/frr.conf").split() == ["640", "frr:frr"]
        assert sh(node, f"grep -c 'password {PASSWORD}$' /etc/frr/frr.conf").strip() == "2"
    yield path
    labmod.reset_nodes(lab, NODES)


def client_requests(vip: str, count: int, timeout: float = 2) -> list[str]:
    """`count` GETs from the client, each on a new connection: each one's HTTP code."""
    host = f"[{vip}]" if ":" in vip else vip
    script = (
        f"for i in $(seq {count}); do "
        f"curl -s -o /dev/null -w '%{{http_code}}\\n' -m {timeout} http://{host}/ || true; done"
    )
    result = labmod.node_exec(labmod.CLIENT, script, timeout=count * (timeout + 1) + 10)
    return result.stdout.split()


def frontend_sessions(node: str) -> int:
    """The total sessions of HAProxy's `web` frontend on `node` (its runtime API)."""
    csv = sh(node, f"echo 'show stat' | socat stdio {ADMIN}").splitlines()
    header = csv[0].lstrip("# ").split(",")
    for line in csv[1:]:
        fields = line.split(",")
        if fields[:2] == ["web", "FRONTEND"]:
            return int(fields[header.index("stot")])
    raise AssertionError(f"{node}: no web frontend in show stat")


def test_three_nodes_converge_and_the_router_spreads_one_client_over_them(
    anycast: Path,
) -> None:
    assert wait_nexthops(VIP, set(ADDRESS.values()), timeout=30) >= 0
    assert wait_nexthops(VIP6, {link_local(node) for node in NODES}, timeout=30) >= 0
    before = {node: frontend_sessions(node) for node in NODES}
    codes = client_requests(VIP, 60) + client_requests(VIP6, 60)
    assert codes == ["200"] * 120
    served = {node: frontend_sessions(node) - before[node] for node in NODES}
    assert sum(served.values()) == 120, served
    assert all(count > 0 for count in served.values()), served


def test_a_rerun_changes_nothing_and_verify_passes(anycast: Path) -> None:
    code, report = up_json(anycast)
    assert code == 0
    assert {node: report["nodes"][node]["changed"] for node in NODES} == dict.fromkeys(NODES, 0)
    result = lbdeploy("verify", str(anycast))
    assert result.returncode == 0, result.stdout + result.stderr


WEBHOOK_LOG = "/var/log/lab-webhook.log"  # on web1, one JSON line per request received


def webhook_states(node: str) -> list[str]:
    """The anycast states `node`'s gate posted to the inventory's webhook (web1), in order."""
    text = labmod.node_exec("web1", f"cat {WEBHOOK_LOG} 2>/dev/null").stdout
    posts = [json.loads(line) for line in text.splitlines() if line.strip()]
    bodies = [json.loads(p["body"]) for p in posts if p["path"] == "/alerts"]
    return [b["state"] for b in bodies if b["node"] == node and VIP in b["anycast_vips"]]


def test_haproxy_stopped_withdraws_within_a_second_and_returns_after_the_hold_down(
    anycast: Path,
) -> None:
    everyone = set(ADDRESS.values())
    wait_nexthops(VIP, everyone, timeout=30)
    labmod.node_exec("web1", f"rm -f {WEBHOOK_LOG}")
    watcher = router_watch(VIP, ADDRESS["hera"], timeout=10)
    time.sleep(0.3)  # the watcher runs
    stopped = time.time()
    sh("hera", "systemctl stop haproxy")
    try:
        withdrawn = watched(watcher, stopped, timeout=10)
        assert wait_nexthops(VIP, everyone - {ADDRESS["hera"]}, timeout=5) >= 0
        assert client_requests(VIP, 30) == ["200"] * 30
    finally:
        started = time.monotonic()
        sh("hera", "systemctl start haproxy")
    wait_nexthops(VIP, everyone, timeout=HOLD_DOWN + 10)
    back = time.monotonic() - started
    print(f"anycast: haproxy stop -> withdrawn in {withdrawn:.3f} s; back in {back:.2f} s")
    assert withdrawn <= 1.0
    assert back >= HOLD_DOWN
    # The gate posted both moves to the webhook (in the background, bounded: 5 s here).
    deadline = time.monotonic() + 5
    while webhook_states("hera") != ["withdrawn", "announced"]:
        assert time.monotonic() < deadline, webhook_states("hera")
        time.sleep(0.2)


def test_a_frozen_node_is_dropped_by_bfd_within_half_a_second(anycast: Path) -> None:
    everyone = set(ADDRESS.values())
    wait_nexthops(VIP, everyone, timeout=30)
    container = f"{labmod.PROJECT}_atenea_1"
    watcher = router_watch(VIP, ADDRESS["atenea"], timeout=10)
    time.sleep(0.3)
    pausing = time.time()
    subprocess.run(["docker", "pause", container], check=True, timeout=30)
    frozen = time.time()  # the freezer has stopped every process of the node by now
    try:
        dropped = watched(watcher, frozen, timeout=10)
        assert client_requests(VIP, 20) == ["200"] * 20
    finally:
        subprocess.run(["docker", "unpause", container], check=True, timeout=30)
    wait_nexthops(VIP, everyone, timeout=HOLD_DOWN + 30)
    paused = frozen - pausing
    print(f"anycast: node frozen -> dropped in {dropped:.3f} s (pause took {paused:.3f} s)")
    assert dropped <= 0.5


def test_ipv6_vip_withdraws_and_returns_the_same_way(anycast: Path) -> None:
    everyone = {link_local(node) for node in NODES}
    wait_nexthops(VIP6, everyone, timeout=30)
    watcher = router_watch(VIP6, link_local("afrodita"), timeout=10)
    time.sleep(0.3)
    stopped = time.time()
    sh("afrodita", "systemctl stop haproxy")
    try:
        withdrawn = watched(watcher, stopped, timeout=10)
        assert client_requests(VIP6, 20) == ["200"] * 20
    finally:
        sh("afrodita", "systemctl start haproxy")
    wait_nexthops(VIP6, everyone, timeout=HOLD_DOWN + 10)
    print(f"anycast: IPv6, haproxy stop -> withdrawn in {withdrawn:.3f} s")
    assert withdrawn <= 1.0


def test_status_shows_each_session_bfd_and_the_vips_announced(anycast: Path) -> None:
    wait_nexthops(VIP, set(ADDRESS.values()), timeout=30)
    code, nodes = run_json("status", str(anycast))
    assert code == 0
    assert PASSWORD not in json.dumps(nodes)
    for node in nodes:
        bgp = node["anycast"]
        assert (bgp["frr"], bgp["gate"], bgp["withdrawn"]) == ("active", "active", False)
        assert sorted(bgp["on_lo"]) == sorted([VIP, VIP6])
        states = {(p["peer"], p["state"], p["bfd"]) for p in bgp["peers"]}
        assert states == {
            (labmod.ROUTER_ADDRESS, "Established", "up"),
            (labmod.ROUTER_ADDRESS6, "Established", "up"),
        }, node["node"]
        announced = {p["family"]: p["announced"] for p in bgp["peers"]}
        assert announced == {4: [VIP], 6: [VIP6]}


def test_failover_test_times_an_anycast_withdrawal_and_return(anycast: Path) -> None:
    wait_nexthops(VIP, set(ADDRESS.values()), timeout=30)
    code, move = run_json("failover-test", str(anycast), "--vip", VIP, "--node", "hera")
    assert code == 0, move
    away, home = move["failover_seconds"], move["failback_seconds"]
    print(f"anycast failover-test: withdrawn in {away} s, announced again in {home} s")
    assert away <= 1.0
    assert home >= HOLD_DOWN


REHASH = 2.5  # s after a route change in which a request in flight may fail (curl -m 2)


def rehashed(
    results: list[tuple[float, str]], changes: list[tuple[float, float]]
) -> tuple[list[list[float]], list[tuple[float, str]]]:
    """The failed requests that ended within REHASH after each route change (a
    `change_span`: the change lies between its two instants), and the others. The router's
    ECMP is hash-threshold: adding or removing a nexthop moves a share of every node's
    flows, so a connection open at that instant is sent to a node that does not know it
    and is reset. That, and nothing else, may fail."""
    near: list[list[float]] = [[] for _ in changes]
    others = []
    for at, code in results:
        if code == "200":
            continue
        hit = [i for i, (after, seen) in enumerate(changes) if after <= at <= seen + REHASH]
        if hit:
            near[hit[0]].append(round(at - changes[hit[0]][1], 3))
        else:
            others.append((at, code))
    return near, others


def sessions_changed(since: float) -> dict[str, list[str]]:
    """Each node's bgpd session changes (up, down and why) in its journal since `since`
    (epoch): what explains a failure away from the route changes a test made."""
    return {
        node: sh(
            node,
            f"journalctl -u frr --since @{int(since)} -o short-precise --no-pager"
            " | grep -E 'ADJCHANGE|NOTIFICATION' || true",
        ).splitlines()
        for node in NODES
    }


def test_a_planned_removal_and_return_under_load(anycast: Path) -> None:
    """withdraw takes atenea out of the router while it still serves, and back: nothing
    fails but what the router's rehash resets at the two instants (counted)."""
    everyone = set(ADDRESS.values())
    wait_nexthops(VIP, everyone, timeout=30)
    pid = sh("atenea", "systemctl show -p MainPID --value haproxy").strip()
    load = client_load(f"http://{VIP}/", 24)
    try:
        time.sleep(4)
        gone = router_watch(VIP, ADDRESS["atenea"], timeout=20)
        out = lbdeploy("withdraw", str(anycast), "--node", "atenea")
        assert out.returncode == 0, out.stdout + out.stderr
        assert nexthops(VIP) == everyone - {ADDRESS["atenea"]}  # out before withdraw ends
        removed = change_span(gone, timeout=20)
        time.sleep(4)
        again = router_watch(VIP, ADDRESS["atenea"], timeout=20, back=True)
        back = lbdeploy("withdraw", str(anycast), "--node", "atenea", "--back")
        assert back.returncode == 0, back.stdout + back.stderr
        assert nexthops(VIP) == everyone
        returned = change_span(again, timeout=20)
    finally:
        results = load_results(load, timeout=60)
    (on_removal, on_return), others = rehashed(results, [removed, returned])
    print(
        f"anycast planned move under 4-thread load: {len(results)} requests;"
        f" failed on removal {len(on_removal)} {on_removal}, on return {len(on_return)}"
        f" {on_return} (s after the route change), otherwise {len(others)}"
    )
    assert len(results) > 200
    assert others == [], (removed, returned, sessions_changed(results[0][0]))
    assert sh("atenea", "systemctl show -p MainPID --value haproxy").strip() == pid


def test_restart_takes_the_node_out_of_the_routers_first(anycast: Path) -> None:
    """restart --hard on an anycast node: withdrawn before HAProxy stops and announced
    after it serves again, so nothing fails but the router's rehash at the two instants."""
    everyone = set(ADDRESS.values())
    wait_nexthops(VIP, everyone, timeout=30)
    pid = sh("atenea", "systemctl show -p MainPID --value haproxy").strip()
    load = client_load(f"http://{VIP}/", 30)
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    restart = threading.Thread(
        target=lambda: done.update(
            out=lbdeploy("restart", str(anycast), "--node", "atenea", "--hard")
        )
    )
    try:
        time.sleep(3)
        watcher = router_watch(VIP, ADDRESS["atenea"], timeout=25)
        restart.start()
        removed = change_span(watcher, timeout=25)  # out of the router (epoch seconds)
        back = router_watch(VIP, ADDRESS["atenea"], timeout=40, back=True)
        returned = change_span(back, timeout=40)
    finally:
        restart.join(timeout=120)
        results = load_results(load, timeout=90)
    assert done["out"].returncode == 0, done["out"].stdout + done["out"].stderr
    # Out of the router from before HAProxy stopped until the gate's hold-down after it
    # started again had passed.
    assert returned[1] - removed[0] >= HOLD_DOWN, (removed, returned)
    assert sh("atenea", "systemctl show -p MainPID --value haproxy").strip() != pid
    (on_removal, on_return), others = rehashed(results, [removed, returned])
    print(
        f"anycast restart --hard under load: {len(results)} requests; failed on removal"
        f" {len(on_removal)} {on_removal}, on return {len(on_return)} {on_return},"
        f" otherwise {len(others)}"
    )
    # HAProxy stopped and started while no flow went to it
    assert others == [], (removed, returned, sessions_changed(results[0][0]))


def test_restart_brings_a_stopped_frr_back_as_often_as_asked(anycast: Path) -> None:
    """A node whose FRR is down announces nothing: restart does not fail taking it out
    first, and four restarts in a row are not refused by frr.service's start limit
    (3 in 3 minutes; it left FRR stopped before restart cleared it)."""
    sh("atenea", "systemctl stop frr")
    for _ in range(4):
        result = lbdeploy("restart", str(anycast), "--node", "atenea", "--service", "frr")
        assert result.returncode == 0, result.stdout + result.stderr
    assert sh("atenea", "systemctl is-active frr").strip() == "active"
    wait_nexthops(VIP, set(ADDRESS.values()), timeout=15)
    deadline = time.monotonic() + 15  # BFD comes up just after BGP (the router's session)
    while (result := lbdeploy("verify", str(anycast))).returncode and time.monotonic() < deadline:
        time.sleep(1)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_events_timeline_has_the_gate_and_the_sessions(anycast: Path) -> None:
    """After the withdrawals above: each node's announce and withdraw, and BGP sessions."""
    code, out = run_json("events", str(anycast), "--since", "1h")
    assert code == 0, out
    seen = {(e["node"], e["source"]) for e in out["events"]}
    assert {("hera", "anycast"), ("atenea", "anycast")} <= seen, seen
    assert any(source == "bgp" for _, source in seen), seen
    messages = [e["message"] for e in out["events"] if e["node"] == "hera"]
    assert any("withdrawn" in m for m in messages) and any("announced" in m for m in messages)


def test_adding_an_anycast_vip_drops_no_request_on_the_others(anycast: Path) -> None:
    """frr-reload sends only the delta: a new `network` and prefix-list line, no session
    reset; the VIP already served keeps serving under load meanwhile."""
    everyone = set(ADDRESS.values())
    wait_nexthops(VIP, everyone, timeout=30)
    text = anycast.read_text()
    added = anycast.with_name("added.yaml")
    extra = "  - vip: 172.29.160.11\n"
    added.write_text(
        text.replace('  - vip: "fd00:29:160::10"\n', '  - vip: "fd00:29:160::10"\n' + extra)
    )
    assert extra in added.read_text()
    uptimes = {n: _session_uptimes(anycast, n) for n in NODES}
    began = time.time()
    load = client_load(f"http://{VIP}/", 20)
    try:
        time.sleep(3)
        code, report = up_json(added)
        assert code == 0, json.dumps(report, indent=1)[-3000:]
    finally:
        results = load_results(load, timeout=80)
    failed = [r for r in results if r[1] != "200"]
    print(f"anycast VIP added under load: {len(results)} requests, {len(failed)} failed")
    assert len(results) > 100 and failed == []
    wait_nexthops("172.29.160.11", everyone, timeout=15)
    for node in NODES:  # no session was reset: each has been up longer than before
        after = _session_uptimes(anycast, node)
        assert all(after[peer] >= uptimes[node][peer] for peer in uptimes[node]), (
            node,
            after,
            sessions_changed(began),
        )
    code, report = up_json(anycast)  # and back to the set the other tests expect
    assert code == 0, report


def test_an_up_that_restarts_frr_on_every_node_never_leaves_the_vip_without_a_route(
    anycast: Path,
) -> None:
    """`bfd: false` turns bfdd off, a daemons change: FRR restarts on every node, and each
    is out of the routers for seconds. `up` waits for a node to announce again before it
    changes the next, so some node announces the VIP throughout; and back again."""
    everyone = set(ADDRESS.values())
    wait_nexthops(VIP, everyone, timeout=30)
    text = anycast.read_text()
    bfd = "bfd: {interval_ms: 100, multiplier: 3}"
    assert bfd in text
    no_bfd = anycast.with_name("no-bfd.yaml")
    no_bfd.write_text(text.replace(bfd, "bfd: false"))
    for inventory in (no_bfd, anycast):
        watcher = route_gaps(VIP, 120)
        began = time.time()
        code, report = up_json(inventory)
        gaps = gaps_until_now(watcher)
        assert code == 0, json.dumps(report, indent=1)[-3000:]
        restarted = [
            node
            for node in NODES
            if any("restart frr" in s["detail"] for s in report["nodes"][node]["steps"])
        ]
        waited = {
            node: step["seconds"]
            for node in NODES
            for step in report["nodes"][node]["steps"]
            if step["step"] == "anycast" and step["status"] == "ok"
        }
        print(f"anycast up restarting FRR ({inventory.name}): waited {waited}")
        assert sorted(restarted) == sorted(NODES), report["nodes"]
        assert len(waited) == len(NODES) - 1  # all but the last node of the roll
        assert gaps == [], (gaps, sessions_changed(began))
        wait_nexthops(VIP, everyone, timeout=30)


def _session_uptimes(inventory: Path, node: str) -> dict[str, int]:
    _, nodes = run_json("status", str(inventory))
    (status,) = [s for s in nodes if s["node"] == node]
    return {p["peer"]: p["uptime_s"] for p in status["anycast"]["peers"]}


def test_a_vrrp_vip_and_an_anycast_vip_together_converge_and_both_serve_on_debian_12_and_13(
    lab: labmod.Lab, tmp_path: Path
) -> None:
    """hera runs Debian 13 (FRR 10.3, HAProxy 3.0), afrodita Debian 12 (FRR 8.4)."""
    pair = ("hera", "afrodita")
    # atenea too: it must not announce the VIP here
    labmod.reset_nodes(lab, NODES, images={"hera": labmod.build_image("trixie")})
    path = tmp_path / "inventory.yaml"
    path.write_text(lab_inventory_text(lab, "lab-mixed.yaml"))
    try:
        code, report = up_json(path)
        assert code == 0, json.dumps(report, indent=1)[-4000:]
        # FRR 10.3 starts no session whose BFD is down: bfdd's own sessions (frr.conf).
        assert "BGP: every node has its session with each of its routers up" in report["notes"]
        versions = {n: sh(n, "vtysh -c 'show version' | head -n 1") for n in pair}
        assert "FRRouting 10." in versions["hera"], versions
        assert "FRRouting 8.4" in versions["afrodita"], versions
        assert vip_holders() == ["hera"]
        wait_nexthops(VIP, {ADDRESS[node] for node in pair}, timeout=30)
        assert client_requests(VIP, 20) == ["200"] * 20
        served = subprocess.run(
            [
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-m",
                "3",
                f"http://{labmod.VIP}/",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert served.stdout == "200", served.stderr
        result = lbdeploy("verify", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        labmod.reset_nodes(lab, pair)
