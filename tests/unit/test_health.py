"""Verdicts on a running pair, from addresses, probes and status sections: offline."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from ipaddress import IPv4Interface
from pathlib import Path

from lbdeploy.components.keepalived import parse_vrrp_states
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import parse_facts
from lbdeploy.core.health import NodeStatus, pair_problems, parse_servers, verify_problems
from lbdeploy.inventory import load_inventory
from lbdeploy.ops.status import node_status, status_lines

DATA = Path(__file__).parent / "data"
VIP = "172.29.150.150"


NAMES = ["hera", "afrodita"]


def states() -> Desired:
    return derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA)


def addrs(**held: bool) -> dict:
    own = {"hera": "172.29.150.11/24", "afrodita": "172.29.150.12/24"}
    return {
        node: {"eth1": (IPv4Interface(own[node]),) + ((IPv4Interface(f"{VIP}/24"),) if h else ())}
        for node, h in held.items()
    }


def test_pair_serves_when_the_master_holds_the_vip_and_it_answers() -> None:
    probes = {"hera": {f"{VIP}:80": True}}
    assert pair_problems(states().pair, NAMES, addrs(hera=True, afrodita=False), probes) == []


def test_pair_problems_name_what_is_wrong() -> None:
    s = states()
    assert pair_problems(s.pair, NAMES, addrs(hera=False, afrodita=False), {}) == [
        f"no node holds VIP {VIP}"
    ]
    assert pair_problems(s.pair, NAMES, addrs(hera=True, afrodita=True), {}) == [
        f"VIP {VIP} is held by hera and afrodita (split brain)"
    ]
    assert pair_problems(s.pair, NAMES, addrs(hera=False, afrodita=True), {}) == [
        f"VIP {VIP} is on afrodita, expected hera"
    ]
    assert pair_problems(
        s.pair, NAMES, addrs(hera=True, afrodita=False), {"hera": {f"{VIP}:80": False}}
    ) == [f"nothing answers on {VIP}:80 (service web)"]


def test_standby_master_or_switchover_target_changes_the_expected_holder() -> None:
    s, probes = states(), {"afrodita": {f"{VIP}:80": True}}
    on_afrodita = addrs(hera=False, afrodita=True)
    assert pair_problems(s.pair, NAMES, on_afrodita, probes, standby=frozenset({"hera"})) == []
    assert pair_problems(s.pair, NAMES, on_afrodita, probes, expect_on="afrodita") == []
    assert pair_problems(s.pair, NAMES, addrs(hera=True, afrodita=False), {}, expect_on="afrodita")[
        0
    ] == (f"VIP {VIP} is on hera, expected afrodita")


def test_status_sections_parse() -> None:
    assert parse_vrrp_states(["VI_50 MASTER", "VI_51 FAULT", "junk"]) == {
        "VI_50": "MASTER",
        "VI_51": "FAULT",
    }
    lines = [
        "# pxname,svname,status",
        "stats,FRONTEND,OPEN",
        "stats,BACKEND,UP",
        "web,FRONTEND,OPEN",
        "web,web1,UP",
        "web,web2,DOWN",
        "web,BACKEND,UP",
    ]
    assert parse_servers(lines) == (("web", "web1", "UP"), ("web", "web2", "DOWN"))


def test_node_status_from_a_recorded_snapshot() -> None:
    raw = (DATA / "facts" / "fresh-hera.txt").read_text() + (
        "@@lbdeploy haproxy-version\nHAProxy version 2.6.12-1+deb12u3 2025/10/03 - https://haproxy.org/\n"
        "@@lbdeploy vrrp\nVI_50 BACKUP\n@@lbdeploy servers\nweb,web1,UP\n@@lbdeploy http\n"
    )
    status = node_status(states().pair, "hera", parse_facts(raw), raw, ())
    assert status.vrrp == {"VI_50": "BACKUP"} and status.holds == ()
    assert status.haproxy_version == "2.6.12-1+deb12u3"
    assert status.servers == (("web", "web1", "UP"),)
    assert "socat" in status_lines(states().pair).text()


def test_verify_names_split_brain_dead_haproxy_and_silent_ports() -> None:
    s = states()
    ok = [
        NodeStatus("hera", holds=(VIP,), haproxy="active"),
        NodeStatus("afrodita", haproxy="active"),
    ]
    assert verify_problems(s.pair, ok, {f"{VIP}:80": "ok"}) == []
    split = [
        NodeStatus("hera", holds=(VIP,), haproxy="active"),
        NodeStatus("afrodita", holds=(VIP,), haproxy="inactive"),
    ]
    assert verify_problems(s.pair, split, {f"{VIP}:80": "HTTP 503"}) == [
        f"split brain: VIP {VIP} is held by hera and afrodita",
        "afrodita: haproxy is inactive",
        f"service web on {VIP}:80: HTTP 503",
    ]
    gone = [NodeStatus("hera", error="cannot reach"), NodeStatus("afrodita", haproxy="active")]
    assert verify_problems(s.pair, gone, {f"{VIP}:80": "ok"}) == ["hera: cannot reach"]


def test_a_vip_unreachable_from_here_is_judged_by_its_holder() -> None:
    from lbdeploy.core.health import answer_from_holder

    target = f"{VIP}:80"
    holder = NodeStatus("hera", holds=(VIP,), http={target: "200"}, tcp={f"{VIP}:443": True})
    assert answer_from_holder(holder, target, "http") == "ok"
    assert answer_from_holder(holder, f"{VIP}:443", "tcp") == "ok"
    sick = NodeStatus("hera", holds=(VIP,), http={target: "503"})
    assert answer_from_holder(sick, target, "http") == "HTTP 503 (seen from hera)"
    silent = NodeStatus("hera", holds=(VIP,), http={target: "none"})
    assert answer_from_holder(silent, target, "http") == (
        f"no HTTP answer on {target}, from here or from hera"
    )
    assert answer_from_holder(silent, f"{VIP}:443", "tcp") == (
        f"nothing answers on {VIP}:443, from here or from hera"
    )
    assert "no node holds the VIP" in answer_from_holder(None, target, "http")


def test_up_waits_for_servers_and_names_those_not_up() -> None:
    from lbdeploy.core.health import describe_servers, servers_behind_vips, servers_ready

    pair = states().pair
    holders = {VIP: ["hera"]}
    coming_up = {"hera": (("web", "web1", "DOWN 1/2"), ("web", "web2", "UP"))}
    rows = servers_behind_vips(pair, holders, coming_up)
    assert not servers_ready(rows)
    assert describe_servers(rows) == ["web: 1/2 servers UP (web1 DOWN 1/2)"]
    up = {"hera": (("web", "web1", "UP"), ("web", "web2", "no check")), "afrodita": ()}
    rows = servers_behind_vips(pair, holders, up)
    assert servers_ready(rows) and describe_servers(rows) == ["web: 2/2 servers UP"]
    # No single holder: nothing to judge by, and nothing claimed.
    assert servers_behind_vips(pair, {VIP: ["hera", "afrodita"]}, up) == {"web": ()}


def journal_entry(uid: str, tag: str, message: object, at: str = "1764090000100000") -> str:
    """One line of `journalctl -o json`, as the events script asks for it."""
    entry = {"_UID": uid, "SYSLOG_IDENTIFIER": tag, "MESSAGE": message}
    return json.dumps({"__REALTIME_TIMESTAMP": at, "__CURSOR": "s=1;i=2", **entry})


def test_events_come_from_the_journal_lines_that_matter() -> None:
    from lbdeploy.ops.events import parse_events

    sections = {
        "lbdeploy": [
            journal_entry(
                "0",
                "lbdeploy-vrrp",
                "node=hera instance=VI_50 vip=172.29.150.150 state=FAULT previous_state=MASTER"
                " at=2026-11-25T17:00:00.100Z",
            ),
            journal_entry("0", "lbdeploy-run", "lbdeploy up by me: no change", "1764090009000000"),
        ],
        "units": [
            "1764090000.000000 hera systemd[1]: Stopping haproxy.service - HAProxy...",
            "1764090000.050000 hera haproxy[77]: [WARNING] some chatter",
            "1764090003.000000 hera haproxy[77]: Server web/web1 is DOWN, reason: Layer4 timeout",
        ],
    }
    found = parse_events("hera", sections)
    assert [(e.source, e.at) for e in found] == [
        ("vrrp", 1764090000.1),
        ("lbdeploy", 1764090009.0),
        ("haproxy", 1764090000.0),
        ("haproxy", 1764090003.0),
    ]
    assert found[0].message.startswith("node=hera instance=VI_50")


def test_events_ask_the_journal_for_roots_lines_of_lbdeploy_tags_only() -> None:
    from lbdeploy.ops.events import events_script

    own = next(line for line in events_script("10m").text().splitlines() if "-t lbdeploy" in line)
    words = own.strip("{ };|:").split()
    assert "_UID=0" in words and "json" in words
    assert words.index("_UID=0") > words.index("-t")  # a match, not an option's value


def test_a_forged_lbdeploy_line_of_a_local_user_is_no_event() -> None:
    from lbdeploy.ops.events import parse_events

    forged = "node=hera instance=VI_50 state=MASTER previous_state=BACKUP"
    lbdeploy = [
        journal_entry("1000", "lbdeploy-vrrp", forged),  # `logger -t lbdeploy-vrrp` by a user
        journal_entry("0", "sshd", "Accepted publickey for root"),  # root, another tag
        journal_entry("0", "lbdeploy-run", [98, 121, 32, 0xFF, 27, 10, 120]),  # raw bytes
        journal_entry("0", "lbdeploy-vrrp", "no time", at="soon"),
        "not json at all",
        "[]",
    ]
    found = parse_events("hera", {"lbdeploy": lbdeploy})
    assert [(e.source, e.message) for e in found] == [("lbdeploy", "by \ufffd\x1b\nx")]


def test_status_removes_keepalived_dump_with_the_vrrp_password_once_read(tmp_path: Path) -> None:
    """The SIGUSR1 dump holds the VRRP password: it must not outlive the read."""
    from lbdeploy.components.keepalived import KEEPALIVED_DATA, KEEPALIVED_PID, vrrp_lines

    dump, pidfile, ready = tmp_path / "keepalived.data", tmp_path / "pid", tmp_path / "ready"
    on_usr1 = f"printf 'VRRP Instance = VI_50\\n State = MASTER\\n auth_pass pw\\n' > {dump}"
    # A stand-in keepalived: dumps on SIGUSR1, says when its handler is set.
    daemon = subprocess.Popen(
        ["sh", "-c", f'trap "{on_usr1}" USR1; touch {ready}; while :; do sleep 0.02; done']
    )
    try:
        pidfile.write_text(f"{daemon.pid}\n")
        text = vrrp_lines().text()
        assert text.count(KEEPALIVED_DATA) >= 3 and KEEPALIVED_PID in text
        text = text.replace(KEEPALIVED_DATA, str(dump)).replace(KEEPALIVED_PID, str(pidfile))
        for _ in range(1000):  # bounded: until its handler is set
            if ready.exists():
                break
            time.sleep(0.01)
        assert ready.exists()
        done = subprocess.run(["sh", "-c", text], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert daemon.poll() is None  # it took the signal as keepalived does
        assert not dump.exists()
    finally:
        daemon.kill()
        daemon.wait()


def test_status_reads_the_nice_value_keepalived_s_child_runs_at(tmp_path: Path) -> None:
    """vrrp_priority fails quietly without CAP_SYS_NICE: the probe reads what took."""
    from lbdeploy.components.keepalived import KEEPALIVED_PID, parse_vrrp_nice, vrrp_lines
    from lbdeploy.scripts.script import split_sections

    pidfile, ready = tmp_path / "pid", tmp_path / "ready"
    # A stand-in keepalived: ignores SIGUSR1 (it dumps nothing), one child at nice 7.
    daemon = subprocess.Popen(
        ["sh", "-c", f"trap '' USR1; nice -n 7 sleep 30 & touch {ready}; wait"]
    )
    try:
        pidfile.write_text(f"{daemon.pid}\n")
        for _ in range(1000):  # bounded: until its child runs
            if ready.exists():
                break
            time.sleep(0.01)
        text = vrrp_lines().text().replace(KEEPALIVED_PID, str(pidfile))
        done = subprocess.run(["sh", "-c", text], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert parse_vrrp_nice(split_sections(done.stdout).get("vrrp-nice", [])) == 7
    finally:
        subprocess.run(["pkill", "-P", str(daemon.pid)], check=False)
        daemon.kill()
        daemon.wait()
    assert parse_vrrp_nice([]) is None and parse_vrrp_nice(["junk"]) is None


def test_verify_names_a_vrrp_process_that_did_not_get_its_priority() -> None:
    s = states()
    ok = [
        NodeStatus("hera", holds=(VIP,), haproxy="active", vrrp_nice=-20),
        NodeStatus("afrodita", haproxy="active", vrrp_nice=None),  # keepalived not running
    ]
    assert verify_problems(s.pair, ok, {f"{VIP}:80": "ok"}) == []
    low = [ok[0], replace(ok[1], vrrp_nice=0)]
    assert verify_problems(s.pair, low, {f"{VIP}:80": "ok"}) == [
        "afrodita: keepalived's VRRP process runs at nice 0, not -20, so a busy node can"
        " delay its adverts and the backup take over while the master runs: its"
        " vrrp_priority did not take (keepalived needs CAP_SYS_NICE; a container must be"
        " given it)"
    ]


def test_verify_names_two_masters_of_one_instance_even_when_one_lost_the_address() -> None:
    s = states()
    name = s.pair.vips[0].name
    two = [
        NodeStatus("hera", holds=(VIP,), haproxy="active", vrrp={name: "MASTER"}),
        NodeStatus("afrodita", haproxy="active", vrrp={name: "MASTER"}),
    ]
    assert verify_problems(s.pair, two, {f"{VIP}:80": "ok"}) == [
        f"split brain: VRRP instance {name} (VIP {VIP}) is MASTER on hera and afrodita"
    ]
    # Both hold the address too: said once, by the addresses.
    both = [replace(n, holds=(VIP,)) for n in two]
    assert verify_problems(s.pair, both, {f"{VIP}:80": "ok"}) == [
        f"split brain: VIP {VIP} is held by hera and afrodita"
    ]
