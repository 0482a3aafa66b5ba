"""`lbdeploy renew` (and `up`'s renewal): order what is due, then deploy it as any certificate.

What is due is decided by `core/acme.py` from the state directory and the clock. The
nodes' part of an order is `NodesPublisher`: every token into every node's HAProxy map
through the runtime API, checked on each node, withdrawn after. A new certificate goes
out through `up`'s own path (a secret managed file, `set ssl cert` through the runtime
API, a proven reload only if HAProxy refuses), so it is what a files-form change is; but
narrowed to the renewed certificates' files and the expiry metric (`renewal_paths`): an
unattended timer must never apply an inventory edit nobody has deployed yet.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lbdeploy.addresses import IPAddress
from lbdeploy.components.acme import ANSWERS, check_lines, publish_lines, withdraw_lines
from lbdeploy.components.tls import renewal_paths
from lbdeploy.core.acme import (
    AcmeLayout,
    Challenge,
    NodeAnswer,
    judge_due,
    parse_answers,
    unanswered,
    utc_now,
)
from lbdeploy.core.credentials import Credentials
from lbdeploy.core.desired import Desired, Issued, PairState
from lbdeploy.core.report import NodeReport, Report, StepResult
from lbdeploy.errors import NodeError
from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.inventory.model import Inventory
from lbdeploy.ops.acme import AcmeFailure, issue
from lbdeploy.ops.acme_store import read_issued, state_layout, unusable
from lbdeploy.remote.runs import Emit, NodeRun, Runs, not_ready, on_each, open_runs
from lbdeploy.scripts.script import split_sections


@dataclass(frozen=True)
class Due:
    names: tuple[str, ...]
    why: str


def due(
    inv: Inventory,
    issued: Issued,
    force: bool = False,
    broken: Mapping[tuple[str, ...], str] | None = None,
) -> list[Due]:
    """The ACME certificates to order now, each with why (`broken`: held but unusable)."""
    found = []
    for cert in judge_due(inv, issued, broken or {}, utc_now()):
        why = cert.why
        if why is None and force:
            why = "--force"
        if why is not None:
            found.append(Due(cert.names, why))
    return found


@dataclass
class NodesPublisher:
    """Tokens on every node through its HAProxy's runtime API, checked on that node."""

    runs: Runs
    emit: Emit
    pair: PairState

    def _vips(self, challenges: tuple[Challenge, ...]) -> tuple[IPAddress, ...]:
        names = {c.name for c in challenges}
        found = [
            vip for s in self.pair.acme_services if names & set(s.acme_names) for vip in s.vips
        ]
        return tuple(dict.fromkeys(found))

    def publish(self, challenges: tuple[Challenge, ...]) -> list[str]:
        answers: dict[str, dict[str, NodeAnswer]] = {}
        script = publish_lines(challenges).extend(check_lines(challenges, self._vips(challenges)))

        def one(run: NodeRun) -> None:
            result = run.session.run(script, "acme-token", timeout=60)
            lines = split_sections(result.stdout).get(ANSWERS, [])
            answers[run.name] = parse_answers(lines, challenges)
            ok = all(a.answered for a in answers[run.name].values())
            run.record(
                StepResult(
                    "acme-token",
                    "ok" if ok else "failed",
                    f"{len(challenges)} token(s) {'answered' if ok else 'NOT answered'} here",
                ),
                self.emit,
            )

        on_each(self.runs.ready, one)
        silent = unanswered(answers)
        for report in self.runs.reports.values():
            if report.error and report.node not in answers:
                silent.append(f"{report.node}: {report.error}")
        return silent

    def withdraw(self, challenges: tuple[Challenge, ...]) -> None:
        script = withdraw_lines(challenges)

        def one(run: NodeRun) -> None:
            # A node that cannot be reached now: a reload empties its map too, and the
            # next order replaces an entry of the same path.
            with contextlib.suppress(NodeError):
                run.session.run(script, "acme-withdraw", timeout=60)

        on_each(self.runs.ready, one)


def order_due(
    settings: AcmeSettings, where: AcmeLayout, todo: list[Due], publisher: NodesPublisher
) -> tuple[list[str], list[str], list[tuple[str, ...]]]:
    """Each due certificate ordered in turn: what was renewed, each failure's reason, and
    the names of each certificate issued."""
    renewed, failed, done_names = [], [], []
    for item in todo:
        try:
            done = issue(settings, where, item.names, publisher)
        except AcmeFailure as exc:
            failed.append(f"{exc} (the certificate held keeps serving)")
        else:
            done_names.append(item.names)
            renewed.append(
                f"renewed {', '.join(item.names)} ({item.why}): valid until"
                f" {done.not_after:%Y-%m-%d}"
            )
    return renewed, failed, done_names


def record(report: Report, renewed: list[str], failed: list[str]) -> None:
    """Renewals as notes; a failure fails the run (exit 1) on every node it concerned."""
    report.notes += renewed
    for reason in failed:
        report.notes.append("error: " + reason)
    if failed:
        for node in report.nodes.values():
            node.error = node.error or "ACME renewal failed: " + "; ".join(failed)


def renew(
    inv: Inventory,
    base: Path,
    derive_with: Callable[[Issued], Desired],
    emit: Emit,
    creds: Credentials,
    force: bool = False,
    deploy: Callable[[Desired, frozenset[str]], Report] | None = None,
) -> Report:
    """Order every ACME certificate that is due, then deploy what was issued with `up`'s
    own path (`deploy`), given only the paths that renewal writes; nothing due is a
    success that touches nothing."""
    start = time.monotonic()
    issued = read_issued(inv, base)
    desired = derive_with(issued)
    report = Report("renew", {n.name: NodeReport(n.name) for n in desired.nodes})
    where = state_layout(inv, base)
    todo = due(inv, issued, force, unusable(inv, base))
    if inv.acme is None or where is None or not todo:
        report.notes.append("no ACME certificate is due")
        report.seconds = time.monotonic() - start
        return report
    report.notes += [f"due: {', '.join(d.names)} ({d.why})" for d in todo]
    with open_runs(desired, creds, lock=True, command="renew") as runs:
        report.nodes = runs.reports
        if not runs.complete:
            report.notes.append(not_ready("ordered"))
            renewed: list[str] = []
            done: list[tuple[str, ...]] = []
            failed = ["not every node is reachable, so not every node can answer"]
        else:
            publisher = NodesPublisher(runs, emit, desired.pair)
            renewed, failed, done = order_due(inv.acme, where, todo, publisher)
    record(report, renewed, failed)
    if renewed and deploy is not None:
        new = derive_with(read_issued(inv, base))
        deployed = deploy(new, renewal_paths(new.pair, done))
        deployed.notes = report.notes + deployed.notes
        deployed.command = "renew"
        deployed.seconds += time.monotonic() - start
        if failed:
            record(deployed, [], failed)
        return deployed
    report.seconds = time.monotonic() - start
    return report


def merge(up: Report, renewal: Report) -> Report:
    """`up`'s report with its renewal's: notes, steps and errors of each node."""
    up.notes += [n for n in renewal.notes if n != "no ACME certificate is due"]
    for name, node in renewal.nodes.items():
        mine = up.nodes.setdefault(name, NodeReport(name))
        mine.steps += node.steps
        mine.error = mine.error or node.error
    up.seconds += renewal.seconds
    return up
