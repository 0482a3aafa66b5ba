"""(PairState, NodeState, files, Facts) → Plan: the node's ordered changes, then its services.

Planned once, from one snapshot of facts. Which service a change reloads is read from
the changed files' own `on_change`; restarts come from here, never from steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbdeploy.components import for_pair, units
from lbdeploy.components.base import Context, ServiceAction
from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, Phase
from lbdeploy.core.platforms import Platform
from lbdeploy.core.render import DEFAULT_PLATFORM
from lbdeploy.core.steps import Change, Files, Step, same_content

__all__ = ["Plan", "ServiceAction", "make_plan", "make_steps", "plan_services"]


@dataclass(frozen=True)
class Plan:
    node: str
    changes: tuple[Change, ...]
    services: tuple[ServiceAction, ...]
    drift: tuple[str, ...]  # managed files edited by hand since lbdeploy wrote them
    ok: tuple[str, ...] = ()  # steps already right, for the report

    @property
    def empty(self) -> bool:
        return not self.changes and not self.services

    def in_phase(self, phase: Phase) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.phase is phase)


def _groups(files: dict[str, ManagedFile], phase: Phase, claimed: set[str]) -> list[Files]:
    names: dict[str, list[ManagedFile]] = {}
    for file in files.values():
        if file.phase is phase and file.step not in claimed:
            names.setdefault(file.step, []).append(file)
    return [Files(name, tuple(group), phase) for name, group in names.items()]


def make_steps(
    pair: PairState,
    node: NodeState,
    files: dict[str, ManagedFile],
    platform: Platform = DEFAULT_PLATFORM,
) -> list[Step]:
    """The node's steps in the order they must run: each component's steps with logic of
    their own, then every other file by its step, PREPARE groups before CONFIG ones."""
    ctx = Context(pair, node, platform)
    special = [step for c in for_pair(pair) for step in c.steps(ctx, files)]
    claimed = {step.name for step in special}
    return [
        *special,
        *_groups(files, Phase.PREPARE, claimed),
        *_groups(files, Phase.CONFIG, claimed),
    ]


def find_drift(files: dict[str, ManagedFile], facts: Facts) -> tuple[str, ...]:
    """Files whose live content is neither what lbdeploy last wrote nor what it would write."""
    drifted = []
    for path, file in files.items():
        live = facts.files.get(path)
        written = facts.applied.get(path)
        if live is None or written is None:
            continue
        if live.sha256 != written and not same_content(file, facts):
            drifted.append(path)
    return tuple(drifted)


Reload = Literal["ssl-cert", "reload", "restart"]
_RANK: dict[str, int] = {"ssl-cert": 0, "reload": 1, "restart": 2}


def _wanted(changes: list[Change], facts: Facts) -> tuple[dict[str, Reload], dict[str, list[str]]]:
    """The strongest action each service owes (restart > reload > ssl-cert), and the
    certificates an ssl-cert update takes."""
    wanted: dict[str, Reload] = {}
    for service, owed in facts.pending.items():
        # An owed ssl-cert does not say which certificates: a reload loads them all.
        wanted[service] = "restart" if owed == "restart" else "reload"
    certs: dict[str, list[str]] = {}
    for change in changes:
        for file in change.changed_files:
            if file.on_change is None:
                continue
            service, action = file.on_change.service, file.on_change.action
            if _RANK[action] > _RANK[wanted.get(service, "ssl-cert")] or service not in wanted:
                wanted[service] = action
            if action == "ssl-cert":
                certs.setdefault(service, []).append(file.path)
    return wanted, certs


def plan_services(
    changes: list[Change], facts: Facts, services: tuple[str, ...], settle: bool = True
) -> list[ServiceAction]:
    """Reload what changed files ask for; start or enable what is down (unless `settle` is
    False: a narrow deploy takes what its files ask and nothing else); else nothing."""
    wanted, certs = _wanted(changes, facts)
    actions = []
    for service in services:
        fact = facts.services.get(service)
        active = fact is not None and fact.active == "active"
        enabled = fact is not None and fact.enabled == "enabled"
        if service in wanted:
            action = wanted[service]
            if action == "ssl-cert" and not active:
                action = "reload"  # reload-or-restart: a stopped haproxy starts with them
            why = "its config changed"
            if service in facts.pending:
                why = "an earlier run changed its config"
            elif action == "ssl-cert":
                why = "its certificates changed"
            paths = tuple(certs.get(service, ())) if action == "ssl-cert" else ()
            # What a failed reload may put back: only files this run replaced while the
            # service ran what was on disk; with a reload still owed from an earlier run,
            # the previous file never ran either, and nothing is put back.
            replaced = tuple(
                f.path
                for c in changes
                for f in c.changed_files
                if f.on_change is not None
                and f.on_change.service == service
                and service not in facts.pending
            )
            actions.append(ServiceAction(service, action, not enabled, why, paths, replaced))
        elif not settle:
            continue
        elif not active:
            actions.append(ServiceAction(service, "start", not enabled, "it is not running"))
        elif not enabled:
            actions.append(ServiceAction(service, "enable", True, "it is not enabled at boot"))
    return actions


def only_paths(files: dict[str, ManagedFile], only: frozenset[str]) -> dict[str, ManagedFile]:
    """The managed files a narrow deploy may write (`renew`: the renewed certificates)."""
    return {path: file for path, file in files.items() if path in only}


def narrow_steps(files: dict[str, ManagedFile], only: frozenset[str]) -> list[Step]:
    """Only these paths, each in its own step group: no component's steps with logic (the
    interface, packages, sysctl...), since what else differs is not this run's to change."""
    kept = only_paths(files, only)
    return [*_groups(kept, Phase.PREPARE, set()), *_groups(kept, Phase.CONFIG, set())]


def make_plan(
    pair: PairState,
    node: NodeState,
    files: dict[str, ManagedFile],
    facts: Facts,
    platform: Platform = DEFAULT_PLATFORM,
    only: frozenset[str] | None = None,
) -> Plan:
    """The node's plan; with `only`, a narrow one that writes those paths and no other,
    and runs only the service actions their changes ask for."""
    narrow = only is not None
    wide = make_steps(pair, node, files, platform)
    steps = narrow_steps(files, only) if only is not None else wide
    planned = [(step.name, step.plan(facts)) for step in steps]
    changes = [change for _, change in planned if change is not None]
    ok = [name for name, change in planned if change is None]
    services = plan_services(changes, facts, units(pair), settle=not narrow)
    if narrow:  # an owed reload of another unit is `up`'s to run, not this narrow deploy's
        asked = {f.on_change.service for c in changes for f in c.changed_files if f.on_change}
        services = [a for a in services if a.service in asked]
    if not services:
        ok.append("services")
    return Plan(node.name, tuple(changes), tuple(services), find_drift(files, facts), tuple(ok))
