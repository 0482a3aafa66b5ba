"""Failover of the VRRP pair beyond the simple cases (issue 23): a partition that heals,
stickiness and counters that survive failover and reload (stick tables synced by peers).

VRRP is blocked with nftables on both nodes (each hears nothing from the other, as with
a broken link between them), so both become MASTER; then it is unblocked, and the pair
must come back to one holder by itself, without an operator.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import (
    converged_inventory,
    input_drop,
    input_undrop,
    lab_inventory_text,
    run_json,
    sh,
    up_json,
    wait_for_holders,
)

PAIR = ("hera", "afrodita")
ADMIN = "/run/lbdeploy-haproxy/admin.sock"
BLOCK = input_drop("lbdpart", "ip protocol 112")  # VRRP
UNBLOCK = input_undrop("lbdpart")
PARTITION = 10.0  # seconds VRRP stays blocked
HEAL = 5.0  # seconds within which one holder must be left once it is unblocked


@pytest.fixture(scope="module")
def inventory(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    labmod.reset_nodes(lab)
    return converged_inventory(lab, tmp_path_factory.mktemp("failover"))


def test_a_healed_partition_leaves_one_holder_within_seconds(inventory: Path) -> None:
    assert wait_for_holders(["hera"], 15) >= 0
    blocked = time.monotonic()
    try:
        for node in PAIR:
            sh(node, BLOCK)
        split = wait_for_holders(["hera", "afrodita"], PARTITION)
        code, verdict = run_json("verify", str(inventory))
        assert code == 1
        assert f"split brain: VIP {labmod.VIP} is held by hera and afrodita" in verdict["problems"]
        time.sleep(max(0.0, PARTITION - (time.monotonic() - blocked)))
    finally:
        for node in PAIR:
            labmod.node_exec(node, UNBLOCK)
    healed = wait_for_holders(["hera"], HEAL)
    print(f"partition: split after {split:.2f} s; one holder {healed:.2f} s after the heal")
    assert run_json("verify", str(inventory))[0] == 0


STICKY = """\
  - name: web
    port: 80
    health_check: /
    stick: {on: src, expire: 30m}
    rate_limit: {requests: 1000, per: 60s}
    servers:
      - {name: web1, address: 172.29.150.21, port: 8080}
      - {name: web2, address: 172.29.150.22, port: 8080}
"""


def get(url: str = f"http://{labmod.VIP}/") -> str:
    """One GET from this machine on a new connection: the backend that answered."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode().strip()


def table_entry(node: str) -> dict[str, str]:
    """This machine's entry in the `web` stick table of `node`'s HAProxy (runtime API):
    {'server_id': ..., 'http_req_rate(60000)': ...}."""
    out = sh(node, f"echo 'show table web' | socat stdio {ADMIN}")
    for line in out.splitlines():
        if f"key={labmod.GATEWAY}" in line:
            return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    raise AssertionError(f"{node}: no entry for {labmod.GATEWAY} in:\n{out}")


@pytest.fixture(scope="module")
def sticky(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    labmod.reset_nodes(lab)
    text = lab_inventory_text(lab)
    path = tmp_path_factory.mktemp("sticky") / "inventory.yaml"
    path.write_text(text[: text.index("services:")] + "services:\n" + STICKY)
    code, report = up_json(path)
    assert code == 0, report
    # `up` waits (bounded) for the peers sessions: the tables sync before it ends.
    assert "stick tables: every node's HAProxy syncs with every other" in report["notes"], report
    return path


def synced(inventory: Path) -> dict[str, dict[str, str]]:
    """Each node's `status` word for its peers sessions: {'hera': {'afrodita': 'EST'}, ...}."""
    code, nodes = run_json("status", str(inventory))
    assert code == 0, nodes
    return {n["node"]: n["sync"] for n in nodes}


BOTH = {"hera": {"afrodita": "EST"}, "afrodita": {"hera": "EST"}}


def wait_synced(inventory: Path, timeout: float) -> None:
    """Until both sessions are up (bounded): two nodes that connect to each other at once
    keep one session and drop the other, which reconnects within about 2 s."""
    deadline = time.monotonic() + timeout
    while (seen := synced(inventory)) != BOTH:
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)


def wait_entry(node: str, timeout: float) -> dict[str, str]:
    """This machine's entry in `node`'s table once it is there: the peers protocol pushes
    an update a moment after the request that made it (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return table_entry(node)
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def test_a_pinned_client_stays_on_its_backend_across_failover_and_reload(sticky: Path) -> None:
    wait_synced(sticky, 15)
    pinned = {get() for _ in range(6)}
    assert len(pinned) == 1, pinned
    server = table_entry("hera")["server_id"]
    assert wait_entry("afrodita", 5)["server_id"] == server  # pushed to the backup
    code, move = run_json("failover-test", str(sticky))
    assert code == 0, move
    assert {get() for _ in range(6)} == pinned
    # On the backup: the VIP there, the client still pinned by the synced table.
    code, report = run_json("switchover", str(sticky), "--to", "afrodita")
    assert code == 0, report
    try:
        wait_for_holders(["afrodita"], 15)
        assert {get() for _ in range(6)} == pinned
    finally:
        assert run_json("switchover", str(sticky), "--back")[0] == 0
    wait_for_holders(["hera"], 15)
    # A reload: the old process hands its table to the new one through the local peer.
    before = sh("hera", "systemctl show -p MainPID --value haproxy")
    sh("hera", "systemctl reload haproxy")
    deadline = time.monotonic() + 15
    while "Pid" not in sh("hera", f"echo 'show info' | socat stdio {ADMIN} | grep ^Pid || true"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert sh("hera", "systemctl show -p MainPID --value haproxy") == before  # a reload
    assert table_entry("hera")["server_id"] == server
    assert {get() for _ in range(6)} == pinned


def test_a_rate_counter_keeps_its_value_across_failover(sticky: Path) -> None:
    for _ in range(30):
        get()
    rate = "http_req_rate(60000)"
    on_master = int(table_entry("hera")[rate])
    assert on_master >= 30
    code, report = run_json("switchover", str(sticky), "--to", "afrodita")
    assert code == 0, report
    try:
        wait_for_holders(["afrodita"], 15)
        on_backup = int(table_entry("afrodita")[rate])
        print(f"\nrate counter: {on_master} on the master, {on_backup} on the new holder")
        assert on_backup >= on_master
    finally:
        assert run_json("switchover", str(sticky), "--back")[0] == 0
    wait_for_holders(["hera"], 15)


# Every packet to or from the peers port (10000, the default) dropped on afrodita, so a
# session in either direction hears nothing: HAProxy shuts a session that heard nothing
# for a reconnect period (5 s, PEER_RECONNECT_TIMEOUT in src/peers.c) and cannot open one.
SYNC_BLOCK = input_drop("lbdsync", "tcp dport 10000", "tcp sport 10000")


def test_verify_names_a_broken_table_sync_and_passes_once_it_is_back(sticky: Path) -> None:
    """The peers port cut on afrodita: hera's session drops and cannot come back, and
    verify says so (the pair still serves, so only verify and status can tell)."""
    sh("afrodita", SYNC_BLOCK)
    try:
        deadline = time.monotonic() + 20
        while synced(sticky)["hera"].get("afrodita") == "EST":
            assert time.monotonic() < deadline, "hera still synced with afrodita after 20 s"
            time.sleep(0.5)
        code, verdict = run_json("verify", str(sticky))
        assert code == 1, verdict
        broken = "hera: stick tables not synced with afrodita ("
        assert any(p.startswith(broken) for p in verdict["problems"]), verdict["problems"]
    finally:
        labmod.node_exec("afrodita", input_undrop("lbdsync"))
    wait_synced(sticky, 20)  # HAProxy retries a peer every 5 s
    assert run_json("verify", str(sticky))[0] == 0
