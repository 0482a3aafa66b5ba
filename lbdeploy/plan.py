"""(NodeState, Facts) → Plan: the ordered changes for one node, then its service actions.

Planned once, from one snapshot of facts. Restarts come from here, never from steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbdeploy.desired import NodeState
from lbdeploy.facts import SERVICES, Facts
from lbdeploy.render import (
    DEFAULT_HAPROXY,
    HAPROXY_CFG,
    KEEPALIVED_CONF,
    SYSCTL_CONF,
    FileSpec,
    interface_path,
)
from lbdeploy.steps.base import Change, Step
from lbdeploy.steps.configs import Configs
from lbdeploy.steps.failsafe import Failsafe
from lbdeploy.steps.network import PublicInterface
from lbdeploy.steps.packages import Packages
from lbdeploy.steps.sysctl import NonlocalBind


@dataclass(frozen=True)
class ServiceAction:
    service: str
    action: Literal["reload", "start", "enable"]  # reload/start: `systemctl reload-or-restart`
    enable: bool
    why: str


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


def make_steps(state: NodeState, files: dict[str, FileSpec]) -> list[Step]:
    """The node's steps in the order they must run."""
    return [
        PublicInterface(state, files[interface_path(state.interface.name)]),
        NonlocalBind(files[SYSCTL_CONF]),
        Packages(),
        Failsafe(),
        Configs(tuple(files[p] for p in (DEFAULT_HAPROXY, HAPROXY_CFG, KEEPALIVED_CONF))),
    ]


def find_drift(files: dict[str, FileSpec], facts: Facts) -> tuple[str, ...]:
    """Files whose live content is neither what lbdeploy last wrote nor what it would write."""
    drifted = []
    for path, spec in files.items():
        live = facts.files.get(path)
        written = facts.applied.get(path)
        if live is None or written is None:
            continue
        if live.sha256 != written and live.sha256 != spec.sha256:
            drifted.append(path)
    return tuple(drifted)


def make_plan(state: NodeState, files: dict[str, FileSpec], facts: Facts) -> Plan:
    steps = make_steps(state, files)
    planned = [(step.name, step.plan(facts)) for step in steps]
    changes = [change for _, change in planned if change is not None]
    ok = [name for name, change in planned if change is None]
    reloads = {svc for change in changes for svc in change.reloads}
    services = []
    for service in SERVICES:
        fact = facts.services.get(service)
        active = fact is not None and fact.active == "active"
        enabled = fact is not None and fact.enabled == "enabled"
        if service in reloads:
            services.append(ServiceAction(service, "reload", not enabled, "its config changed"))
        elif not active:
            services.append(ServiceAction(service, "start", not enabled, "it is not running"))
        elif not enabled:
            services.append(ServiceAction(service, "enable", True, "it is not enabled at boot"))
    if not services:
        ok.append("services")
    return Plan(state.name, tuple(changes), tuple(services), find_drift(files, facts), tuple(ok))
