"""Poll a serving pair (bounded): where the VIPs are, what answers on them, HAProxy's servers.

One cheap round trip per node and poll (`core/serving.py`), in parallel; every wait
has a deadline and returns what is still wrong rather than raising. `wait_until_idle` is
the same bound for connections to end (`drain --wait`, `withdraw`); `settle_sync` for
the HAProxy peers sessions that sync the stick tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lbdeploy.components.frr_runtime import peer_statuses, session_lines
from lbdeploy.components.haproxy_runtime import parse_peers, peers_lines, servers_lines
from lbdeploy.core.anycast import AnycastState
from lbdeploy.core.bgp import PeerStatus, session_problems
from lbdeploy.core.desired import PairState
from lbdeploy.core.health import (
    Addresses,
    Probes,
    ServerRow,
    Servers,
    pair_problems,
    parse_servers,
    servers_behind_vips,
    servers_ready,
    unsynced,
    vip_holders,
)
from lbdeploy.core.parsers import parse_addresses, parse_probes
from lbdeploy.core.serving import serving_script
from lbdeploy.remote.runs import NodeRun, on_each
from lbdeploy.scripts.script import split_sections

CONVERGE_TIMEOUT = 20.0
SETTLE_TIMEOUT = 10.0
# HAProxy retries a peer it could not reach every 5 s: a node started before the other
# connects at its second try at the latest.
SYNC_TIMEOUT = 12.0
# FRR (datacenter profile) retries a router every 10 s: a node whose first try came
# before the router took it connects at its second.
BGP_TIMEOUT = 15.0
# A poll is one cheap round trip per node; 0.2 s apart, an election is seen within 0.2 s.
POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class Serving:
    """One poll of the pair: addresses, what answers on the VIPs, haproxy's servers."""

    addresses: Addresses
    probes: Probes
    servers: Servers


def poll_serving(pair: PairState, runs: list[NodeRun], servers: bool = False) -> Serving:
    """One round trip per node, in parallel: its addresses and what answers on its VIPs."""
    seen = Serving({}, {}, {})
    script = serving_script(pair.probe_targets, servers_lines() if servers else None)

    def poll(run: NodeRun) -> None:
        result = run.session.run(script, step="poll", timeout=30)
        sections = split_sections(result.stdout)
        seen.addresses[run.name] = parse_addresses(sections.get("addresses", []))
        seen.probes[run.name] = parse_probes(sections.get("probes", []))
        seen.servers[run.name] = parse_servers(sections.get("servers", []))

    on_each(runs, poll)
    return seen


def wait_until_serving(
    pair: PairState,
    runs: list[NodeRun],
    timeout: float = CONVERGE_TIMEOUT,
    standby: frozenset[str] = frozenset(),
    expect_on: str | None = None,
) -> list[str]:
    """Poll (bounded) until every VIP is on its expected node and answers; return what is left."""
    return poll_until_serving(pair, runs, timeout, standby, expect_on)[0]


def poll_until_serving(
    pair: PairState,
    runs: list[NodeRun],
    timeout: float = CONVERGE_TIMEOUT,
    standby: frozenset[str] = frozenset(),
    expect_on: str | None = None,
    servers: bool = False,
) -> tuple[list[str], Serving]:
    """`wait_until_serving`, also returning the last poll (with haproxy's servers if asked)."""
    deadline = time.monotonic() + timeout
    names = [r.name for r in runs]
    while True:
        seen = poll_serving(pair, runs, servers)
        problems = pair_problems(pair, names, seen.addresses, seen.probes, standby, expect_on)
        if not problems or time.monotonic() >= deadline:
            return problems, seen
        time.sleep(POLL_INTERVAL)


def settle_servers(
    pair: PairState,
    runs: list[NodeRun],
    timeout: float = SETTLE_TIMEOUT,
    first: Serving | None = None,
) -> dict[str, tuple[ServerRow, ...]]:
    """Wait (bounded) until HAProxy's health checks call every server UP; return what they say.

    Right after a start or reload, checks have not run yet: a VIP that answers may still
    send every request to one server. A server still DOWN at the bound is reported, not
    waited for: a dead backend is not lbdeploy's to fix. `first`: a poll already made
    (with servers), judged before another round trip.
    """
    deadline = time.monotonic() + timeout
    names = [r.name for r in runs]
    seen = first
    while True:
        if seen is None:
            seen = poll_serving(pair, runs, servers=True)
        holders = vip_holders(pair, names, seen.addresses)
        rows = servers_behind_vips(pair, holders, seen.servers)
        if servers_ready(rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(POLL_INTERVAL)
        seen = None


def wait_until_idle(
    count: Callable[[], dict[str, int]], timeout: float, interval: float
) -> dict[str, int]:
    """Poll `count` (bounded) until every count is zero, as drain and withdraw wait for
    connections to end; return the last counts (what is left at the bound)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = count()
        if not any(counts.values()) or time.monotonic() >= deadline:
            return counts
        time.sleep(interval)


def poll_sync(runs: list[NodeRun], timeout: float) -> dict[str, dict[str, str]]:
    """One round trip per node, in parallel: its HAProxy's peers and their sessions."""
    seen: dict[str, dict[str, str]] = {}

    def poll(run: NodeRun) -> None:
        result = run.session.run(peers_lines(), step="poll", timeout=timeout)
        seen[run.name] = parse_peers(split_sections(result.stdout).get("haproxy-peers", []))

    on_each(runs, poll)
    return seen


def settle_sync(runs: list[NodeRun], timeout: float = SYNC_TIMEOUT) -> list[str]:
    """Wait (bounded) until every node's HAProxy has its peers session with every other
    one, in two polls running (two nodes that connect to each other at once keep one
    session and drop the other); return what is still not synced at the bound (reported,
    not failed: the pair serves, only a failover would lose the tables' state)."""
    names = sorted(r.name for r in runs)
    deadline = time.monotonic() + timeout
    clean = 0
    while True:
        left = unsynced(names, poll_sync(runs, max(5.0, deadline - time.monotonic())))
        clean = 0 if left else clean + 1
        if clean == 2 or time.monotonic() >= deadline:
            return left
        time.sleep(POLL_INTERVAL)


def poll_sessions(
    anycast: AnycastState, runs: list[NodeRun], timeout: float
) -> dict[str, tuple[PeerStatus, ...]]:
    """One round trip per node, in parallel: its BGP sessions and their BFD."""
    seen: dict[str, tuple[PeerStatus, ...]] = {}

    def poll(run: NodeRun) -> None:
        result = run.session.run(session_lines(anycast), step="poll", timeout=timeout)
        seen[run.name] = peer_statuses(anycast, split_sections(result.stdout))

    on_each(runs, poll)
    return seen


def settle_sessions(
    pair: PairState, runs: list[NodeRun], timeout: float = BGP_TIMEOUT
) -> list[str]:
    """Wait (bounded) until every node has its BGP session, and BFD when on, with each of
    its routers; return what is still down at the bound, by name (reported, not failed:
    the nodes serve, and a router may be down for its own reasons)."""
    anycast = pair.anycast
    if anycast is None:
        return []
    deadline = time.monotonic() + timeout
    while True:
        seen = poll_sessions(anycast, runs, max(5.0, deadline - time.monotonic()))
        left = []
        for name in sorted(r.name for r in runs):
            if name not in seen:
                left.append(f"{name}: its BGP sessions could not be read")
            else:
                left += session_problems(anycast, name, seen[name])
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(POLL_INTERVAL)
