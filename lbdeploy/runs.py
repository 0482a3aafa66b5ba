"""Open connections to many nodes at once: facts (and locks) in parallel, always released.

Shared by `up` and the commands that operate a running pair.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address
from shlex import quote

from lbdeploy.desired import NodeState
from lbdeploy.errors import LockHeld, NodeError, RemoteError
from lbdeploy.facts import (
    LOCK_DIR,
    Facts,
    facts_script,
    parse_addresses,
    parse_facts,
    parse_probes,
    serving_script,
    split_sections,
)
from lbdeploy.health import pair_problems
from lbdeploy.plan import Plan
from lbdeploy.render import FileSpec, render_node
from lbdeploy.report import NodeReport, Report, StepResult
from lbdeploy.shell import Secret
from lbdeploy.ssh import Session, connect

CONVERGE_TIMEOUT = 20.0
POLL_INTERVAL = 0.5

Emit = Callable[[str, StepResult], None]


@dataclass
class NodeRun:
    """One node's way through a run."""

    state: NodeState
    files: dict[str, FileSpec]
    report: NodeReport
    session: Session | None = None
    facts: Facts | None = None
    plan: Plan | None = None
    locked: bool = False
    raw: str = ""  # the facts script's whole output, for extra sections

    def record(self, step: StepResult, emit: Emit) -> None:
        """Add a step to the node's report and show it as it happens."""
        self.report.steps.append(step)
        emit(self.state.name, step)


def lock_holder() -> str:
    """Who holds a node's lock, so a refused run can name it."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {since}"


def stale_lock(holder: str, here: str, alive: Callable[[int], bool]) -> bool:
    """A lock taken from this machine by a process that no longer exists (killed run).

    `holder` is what lock_holder() wrote: 'user@host pid N since T'. Locks of other
    machines are never judged stale: their processes cannot be seen from here.
    """
    try:
        who, _, rest = holder.partition(" pid ")
        pid = int(rest.split()[0])
    except (ValueError, IndexError):
        return False
    return who.rpartition("@")[2] == here and not alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parallel(runs: list[NodeRun], work: Callable[[NodeRun], None]) -> None:
    """Run `work` on every node at once; errors land in each node's report."""

    def guarded(run: NodeRun) -> None:
        try:
            work(run)
        except NodeError as exc:
            # The first error of a node is the one that explains it; keep it.
            run.report.error = run.report.error or str(exc).removeprefix(f"{run.state.name}: ")

    with ThreadPoolExecutor(max_workers=max(1, len(runs))) as pool:
        list(pool.map(guarded, runs))


def rolling_order(runs: list[NodeRun]) -> list[NodeRun]:
    """Backups first, preferred masters last: the VIP moves at most once."""
    return sorted(runs, key=lambda r: r.state.is_master)


def refuse_unless_ready(report: Report, runs: list[NodeRun], what: str) -> bool:
    """True (and a note) when any node is unreachable or locked: then nothing may be done."""
    if any(r.report.error for r in runs):
        report.notes.append(f"nothing was {what}: every node must be reachable and unlocked")
        return True
    return False


def probes_of(state: NodeState) -> list[tuple[IPv4Address, int]]:
    return [(svc.vip or state.default_vip, svc.port) for svc in state.services]


@contextmanager
def open_runs(
    states: list[NodeState],
    become_password: Secret | None,
    lock: bool,
    extra: tuple[str, ...] = (),
) -> Iterator[list[NodeRun]]:
    """Connect to every node and gather its facts (and lock); always unlock and close."""
    runs = [NodeRun(s, render_node(s), NodeReport(s.name)) for s in states]
    holder = lock_holder() if lock else None

    def gather(run: NodeRun) -> None:
        run.session = connect(run.state.name, run.state.ssh, become_password)
        run.report.counters = run.session.counters
        script = facts_script(list(run.files), probes_of(run.state), holder, extra)
        result = run.session.run_script(script, timeout=60)
        if result.exit_code != 0:
            raise RemoteError(
                run.state.name, "facts", "gather facts", result.exit_code, result.stderr
            )
        run.raw = result.stdout
        run.facts = parse_facts(result.stdout)
        if lock:
            if run.facts.lock != "acquired":
                if not stale_lock(run.facts.lock, socket.gethostname(), pid_alive):
                    raise LockHeld(run.state.name, run.facts.lock)
                _take_over(run, run.facts.lock, holder or "")
            run.locked = True

    try:
        parallel(runs, gather)
        yield runs
    finally:
        parallel([r for r in runs if r.session is not None], _release)


def _take_over(run: NodeRun, old: str, holder: str) -> None:
    """The lock's run died on this machine (e.g. its connection dropped): take it over."""
    assert run.session is not None
    script = (
        f"rm -rf {LOCK_DIR} && mkdir {LOCK_DIR}"
        f" && printf '%s\\n' {quote(holder)} > {LOCK_DIR}/holder\n"
    )
    result = run.session.run_script(script, timeout=30)
    if result.exit_code != 0:
        raise LockHeld(run.state.name, old)
    run.report.steps.append(
        StepResult("lock", "changed", f"took over the lock of a dead run ({old})")
    )


def _release(run: NodeRun) -> None:
    assert run.session is not None
    try:
        if run.locked:
            run.session.run_script(f"rm -rf {LOCK_DIR}\n", timeout=30)
            run.locked = False
    finally:
        run.session.close()


def poll_serving(runs: list[NodeRun]) -> tuple[dict[str, dict], dict[str, dict[str, bool]]]:
    """One round trip per node, in parallel: its addresses and what answers on its VIPs."""
    addresses: dict[str, dict] = {}
    probes: dict[str, dict[str, bool]] = {}

    def poll(run: NodeRun) -> None:
        assert run.session is not None
        result = run.session.run_script(serving_script(probes_of(run.state)), timeout=30)
        sections = split_sections(result.stdout)
        addresses[run.state.name] = parse_addresses(sections.get("addresses", []))
        probes[run.state.name] = parse_probes(sections.get("probes", []))

    parallel(runs, poll)
    return addresses, probes


def wait_until_serving(
    runs: list[NodeRun],
    timeout: float = CONVERGE_TIMEOUT,
    standby: frozenset[str] = frozenset(),
    expect_on: str | None = None,
) -> list[str]:
    """Poll (bounded) until every VIP is on its expected node and answers; return what is left."""
    deadline = time.monotonic() + timeout
    states = [r.state for r in runs]
    while True:
        addresses, probes = poll_serving(runs)
        problems = pair_problems(states, addresses, probes, standby, expect_on)
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(POLL_INTERVAL)
