"""Facts parse from recorded node output; plans follow from facts, offline.

Raw outputs under data/facts/ were recorded from lab nodes (fresh and converged), with
each managed file's hash written `{sha:PATH}`: filled with the hash of what lbdeploy
renders now, so a template change does not stale the recording. Each
plan case under data/plan/ names one, edits it (`replace`), and gives the plan expected
for the lab inventory; a regression is one new JSON file.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest

from lbdeploy.components import facts_request, failsafe, keepalived, network, sysctl
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import facts_script, parse_facts
from lbdeploy.core.plan import make_plan
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory
from lbdeploy.scripts.script import split_sections

DATA = Path(__file__).parent / "data"
PLAN_CASES = sorted((DATA / "plan").glob("*.json"))


def lab() -> Desired:
    return derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA)


def lab_states() -> dict:
    return {s.name: s for s in lab().nodes}


def recorded(name: str, replace: list[list[str]] | None = None) -> str:
    """A recorded facts output, edited, its `{sha:PATH}` marks filled for the templates."""
    text = (DATA / "facts" / name).read_text()
    for old, new in replace or []:
        assert old in text, old
        text = text.replace(old, new)
    node = name.removesuffix(".txt").split("-", 1)[1]
    for path, spec in render_node(lab().pair, lab_states()[node]).items():
        text = text.replace(f"{{sha:{path}}}", spec.sha256)
    return text


def test_converged_facts_parse() -> None:
    facts = parse_facts(recorded("converged-hera.txt"))
    assert facts.lock == "acquired"
    assert facts.os["ID"] == "debian" and facts.os["VERSION_ID"] == "12"
    assert facts.packages["haproxy"].startswith("2.6.")
    assert facts.files["/etc/haproxy/haproxy.cfg"].mode == 0o640
    assert facts.files["/etc/haproxy/haproxy.cfg"].group == "haproxy"
    assert (
        facts.applied["/etc/haproxy/haproxy.cfg"] == facts.files["/etc/haproxy/haproxy.cfg"].sha256
    )
    assert sysctl.live(facts) == {"net.ipv4.ip_nonlocal_bind": "1"}
    assert facts.addresses["eth1"] == (
        IPv4Interface("172.29.150.11/24"),
        IPv4Interface("172.29.150.150/24"),
    )
    assert facts.ssh_server_address == IPv4Address("172.29.149.11")
    assert facts.ssh_interface == "eth0"
    assert facts.services["haproxy"].active == "active" and facts.services["haproxy"].main_pid > 0
    assert failsafe.sleeps(facts) is None and network.sources_interfaces_d(facts)
    assert keepalived.has_script_user(facts)
    assert facts.probes == {"172.29.150.150:80": True}
    # One systemctl reads the network stack's units too; they are signals, not services.
    assert set(facts.services) == {"haproxy", "keepalived"}
    assert facts.signals == {"networkd": "inactive", "networkmanager": "inactive"}
    assert keepalived.priorities(facts) == {"VI_50": 254}


def test_fresh_facts_parse() -> None:
    facts = parse_facts(recorded("fresh-hera.txt"))
    assert facts.files == {} and facts.applied == {}
    assert set(facts.packages) == {"procps"} and facts.apt_lists == 0
    assert not keepalived.has_script_user(facts)
    assert facts.services["keepalived"].enabled == "absent"
    assert facts.probes == {} and keepalived.priorities(facts) == {}


def test_a_held_lock_names_its_holder() -> None:
    text = recorded("fresh-hera.txt").replace("acquired", "bob@ws pid 7", 1)
    assert parse_facts(text).lock == "bob@ws pid 7"


def test_facts_script_sections_match_the_parser() -> None:
    request = replace(facts_request(lab().pair), paths=["/etc/a b"])
    script = facts_script(request, "me").text()
    assert "'/etc/a b'" in script  # paths are quoted
    recorded = split_sections((DATA / "facts" / "converged-hera.txt").read_text())
    for name in recorded:
        assert f"echo '@@lbdeploy {name}'" in script


@pytest.mark.parametrize("case", PLAN_CASES, ids=[c.stem for c in PLAN_CASES])
def test_plan_follows_from_facts(case: Path) -> None:
    spec = json.loads(case.read_text())
    raw = recorded(spec["facts"], spec.get("replace"))
    state = lab_states()[spec["node"]]
    pair = lab().pair
    plan = make_plan(pair, state, render_node(pair, state), parse_facts(raw))
    expect = spec["expect"]
    assert [[c.step, c.why] for c in plan.changes] == expect["changes"]
    assert [[a.service, a.action, a.enable] for a in plan.services] == expect["services"]
    assert list(plan.drift) == expect["drift"]
    if "ok" in expect:
        assert list(plan.ok) == expect["ok"]
    changes = {c.step: c for c in plan.changes}
    for step, paths in expect.get("uploads", {}).items():
        assert [u.file.path for u in changes[step].uploads] == paths
    for step, commands in expect.get("commands", {}).items():
        assert [c.text() for c in changes[step].commands] == commands


def test_only_a_dead_run_of_this_machine_leaves_a_stale_lock() -> None:
    from lbdeploy.remote.locks import stale_lock

    ours = "3f2a9c81d0e4"
    holder = f"ops@laptop pid 4242 since 2026-11-25T10:00:00Z machine {ours}"
    assert stale_lock(holder, "laptop", ours, alive=lambda pid: False)
    assert not stale_lock(holder, "laptop", ours, alive=lambda pid: True)
    assert not stale_lock(holder, "other-host", ours, alive=lambda pid: False)
    assert not stale_lock("alice@ops pid 42", "laptop", ours, alive=lambda pid: False)
    assert not stale_lock("unknown holder", "laptop", ours, alive=lambda pid: False)


def test_a_lock_of_another_machine_with_our_hostname_is_never_stale() -> None:
    from lbdeploy.remote.locks import stale_lock

    theirs = "ops@laptop pid 4242 since 2026-11-25T10:00:00Z machine 0123456789ab"
    assert not stale_lock(theirs, "laptop", "3f2a9c81d0e4", alive=lambda pid: False)
    # An older lbdeploy's holder names no machine: its hostname alone proves nothing.
    old = "ops@laptop pid 4242 since 2026-11-25T10:00:00Z"
    assert not stale_lock(old, "laptop", "3f2a9c81d0e4", alive=lambda pid: False)
    # Without a machine-id on either side, nothing is judged stale.
    unknown = "ops@laptop pid 4242 since 2026-11-25T10:00:00Z machine unknown"
    assert not stale_lock(unknown, "laptop", None, alive=lambda pid: False)
    assert not stale_lock(theirs, "laptop", None, alive=lambda pid: False)


def test_a_lock_holder_names_its_machine_by_a_hash_of_the_machine_id(tmp_path: Path) -> None:
    from lbdeploy.remote.locks import lock_holder, machine_identity, stale_lock

    machine_id = "3d1219c7c4c5404aaa1f6d2a48adfda4"
    (tmp_path / "machine-id").write_text(machine_id + "\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "first-boot").write_text("uninitialized\n")  # shared by every such machine
    identity = machine_identity([str(tmp_path / "absent"), str(tmp_path / "machine-id")])
    assert identity is not None and re.fullmatch("[0-9a-f]{12}", identity)
    assert identity not in machine_id  # the id itself stays private
    nothing = [str(tmp_path / name) for name in ("empty", "first-boot", "absent")]
    assert machine_identity(nothing) is None
    holder = lock_holder(identity)
    assert re.fullmatch(rf"\S+@\S+ pid \d+ since \S+Z machine {identity}", holder)
    assert stale_lock(holder, socket.gethostname(), identity, alive=lambda pid: False)
