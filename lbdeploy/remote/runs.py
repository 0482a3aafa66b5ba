"""Open connections to many nodes at once: facts (and locks) in parallel, always released.

Shared by `up` and the commands that operate a running pair. A node that could not
be reached (or is locked) is only a report with its error; every `NodeRun` has its
session and facts.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from lbdeploy.components import facts_request
from lbdeploy.components.keepalived import roll_node
from lbdeploy.core.credentials import Credentials
from lbdeploy.core.desired import Desired, NodeState, PairState
from lbdeploy.core.facts import (
    Facts,
    facts_script,
    parse_facts,
)
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.platforms import Platform, detect
from lbdeploy.core.render import make_environment, render_node
from lbdeploy.core.report import NodeReport, StepResult
from lbdeploy.core.roll import choose_order
from lbdeploy.errors import LockHeld, NodeError
from lbdeploy.remote.connect import SshFiles, connect
from lbdeploy.remote.locks import (
    LOCK_TAKEN,
    lock_holder,
    machine_identity,
    pid_alive,
    release_script,
    stale_lock,
    takeover_script,
)
from lbdeploy.remote.ssh import Session
from lbdeploy.scripts.script import Script

Emit = Callable[[str, StepResult], None]
T = TypeVar("T")


@dataclass
class NodeRun:
    """One reached node's way through a run: its session and one snapshot of its facts."""

    node: NodeState
    files: dict[str, ManagedFile]
    report: NodeReport
    session: Session
    facts: Facts
    raw: str  # the facts script's whole output, for extra sections
    platform: Platform
    holder: str | None = None  # this run's lock on the node, if it holds one

    @property
    def name(self) -> str:
        return self.node.name

    def record(self, step: StepResult, emit: Emit) -> None:
        """Add a step to the node's report and show it as it happens."""
        self.report.steps.append(step)
        emit(self.node.name, step)


@dataclass
class Runs:
    """Every node's report (inventory order) and the nodes that were reached."""

    pair: PairState
    reports: dict[str, NodeReport]
    ready: list[NodeRun] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every node reached, with facts (and lock): only then may anything change."""
        return not any(r.error for r in self.reports.values())


def not_ready(done: str) -> str:
    """The note of a run that touched nothing because a node was out of reach or locked."""
    return f"nothing was {done}: every node must be reachable and unlocked"


def parallel(items: list[T], work: Callable[[T], None], report: Callable[[T], NodeReport]) -> None:
    """Run `work` on every node at once; a node's error lands in its own report."""

    def guarded(item: T) -> None:
        node_report = report(item)
        try:
            work(item)
        except NodeError as exc:
            # The first error of a node is the one that explains it; keep it.
            node_report.error = node_report.error or str(exc).removeprefix(f"{node_report.node}: ")

    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        list(pool.map(guarded, items))


def on_each(runs: list[NodeRun], work: Callable[[NodeRun], None]) -> None:
    parallel(runs, work, lambda r: r.report)


def roll_order(
    runs: list[NodeRun], touched: Callable[[NodeRun], bool], new_config: bool = True
) -> list[NodeRun]:
    """The order that moves the VIPs least (`core/roll.py`), for a config roll and a restart
    alike. `touched`: the nodes whose keepalived the run starts, reloads or restarts;
    `new_config`: they come back with the desired priorities (`up`), else with the ones
    they run (`restart`), so a restart of a serving pair goes backups first."""
    by_name = {run.name: run for run in runs}
    nodes = [roll_node(run.node, run.facts, touched(run), new_config) for run in runs]
    return [by_name[node.name] for node in choose_order(nodes)]


@contextmanager
def open_runs(
    desired: Desired,
    creds: Credentials,
    lock: bool,
    extra: Script | None = None,
    command: str = "",
) -> Iterator[Runs]:
    """Connect to every node and gather its facts (and lock); always unlock and close."""
    pair = desired.pair
    runs = Runs(pair, {n.name: NodeReport(n.name) for n in desired.nodes})
    holder = lock_holder() if lock else None

    # The same facts script and templates for every node: built and compiled once.
    request = facts_request(pair)
    script = facts_script(request, holder, extra)
    templates = make_environment()
    ssh_files = SshFiles(creds.key_passphrase)  # keys, known_hosts: read once for all nodes

    def gather(node: NodeState) -> None:
        report = runs.reports[node.name]
        session = connect(node.name, node.ssh, creds, pair.secrets, files=ssh_files)
        report.counters = session.counters
        try:
            result = session.run(script, step="facts", what="gather facts", timeout=60)
            facts = parse_facts(result.stdout, tuple(request.units))
            # What the node is decides what it gets: its network stack, its daemons.
            platform = detect(facts.os, facts.signals, facts.packages)
            files = render_node(pair, node, platform, templates)
            run = NodeRun(node, files, report, session, facts, result.stdout, platform)
            if holder is not None:
                _lock(run, holder)
        except BaseException:
            # A facts script that timed out may have taken the lock: give back only ours.
            if holder is not None:
                _release_own(session, holder)
            session.close()
            raise
        runs.ready.append(run)

    try:
        parallel(list(desired.nodes), gather, lambda n: runs.reports[n.name])
        runs.ready.sort(key=lambda r: list(runs.reports).index(r.name))
        yield runs
    finally:
        on_each(runs.ready, lambda run: _release(run, command))


def _lock(run: NodeRun, holder: str) -> None:
    """The facts round trip tried the lock; take over a dead run's lock of this machine."""
    if run.facts.lock == "acquired":
        run.holder = holder
        return
    old = run.facts.lock
    if not stale_lock(old, socket.gethostname(), machine_identity(), pid_alive):
        raise LockHeld(run.name, old)
    script = takeover_script(old, holder)
    result = run.session.run(script, step="lock", timeout=30, ok_codes=(0, LOCK_TAKEN))
    if result.exit_code == LOCK_TAKEN:
        raise LockHeld(run.name, old)
    run.holder = holder
    run.report.steps.append(
        StepResult("lock", "changed", f"took over the lock of a dead run ({old})")
    )


def _release_own(session: Session, holder: str, journal: str = "") -> None:
    """Remove the node's lock only if it is this run's own; never fail the run for it."""
    script = release_script(holder, journal)
    # If this fails the lock stays; the next run from here takes it over (its pid is gone).
    with contextlib.suppress(NodeError):
        session.run(script, step="unlock", timeout=30)


def journal_line(command: str, holder: str, report: NodeReport) -> str:
    """What a run did on a node, for the node's journal (`lbdeploy events` reads it)."""
    changed = [s for s in report.steps if s.status in ("changed", "failed")]
    done = "; ".join(f"{s.step} {s.status}: {s.detail}" for s in changed) or "no change"
    return f"lbdeploy {command or 'run'} by {holder}: {done}"[:900]


def _release(run: NodeRun, command: str) -> None:
    try:
        if run.holder is not None:
            line = journal_line(command, run.holder, run.report)
            _release_own(run.session, run.holder, line)
            run.holder = None
    finally:
        run.session.close()
