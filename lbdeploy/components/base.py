"""The seam: each thing lbdeploy manages on a node is one `Component`.

A component says, in one place, what it reads from a node (its facts sections and
their parsers), what it writes there (its `ManagedFile`s), the steps that need logic
beyond a file, the packages and units it brings, and how its services take a change.
The pipeline walks the pair's list of components and names no daemon itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import jinja2

from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.platforms import Daemon, Platform
from lbdeploy.core.steps import Step
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Command


@dataclass(frozen=True)
class Context:
    """What a component renders and plans from: the pair, one node, what that node is."""

    pair: PairState
    node: NodeState
    platform: Platform
    # Random bytes for what must not be guessable (the exporters' bcrypt salt); a test
    # passes a fixed source so that goldens stay byte-identical.
    entropy: Callable[[int], bytes] = os.urandom


@dataclass(frozen=True)
class Prerequisite:
    """What a component needs beyond its packages (a system user); the packages step sets
    it up after apt, when `done` says it is missing."""

    done: bool
    why: str
    command: Command


@dataclass(frozen=True)
class ServiceAction:
    """What a unit owes after this run's changes (restarts come from the plan, not steps)."""

    service: str
    # reload/start: `systemctl reload-or-restart`; restart: `systemctl restart`;
    # ssl-cert: certificates through HAProxy's runtime API, a reload only if it refuses
    action: Literal["ssl-cert", "reload", "restart", "start", "enable"]
    enable: bool
    why: str
    paths: tuple[str, ...] = ()  # the certificates of an ssl-cert update
    # Files of this unit that this very run replaced (each kept as `.lbdeploy-bak` just
    # before): only these may be put back if the new config does not load.
    replaced: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outage:
    """A component's part of serving taken away on purpose (`failover-test`) and given back:
    its own commands, so the operation names no daemon."""

    what: str  # as the report says it: "stopped haproxy"
    cause: Command
    mend: Command


class Component:
    """Defaults for a component that has none of a kind (no package, no unit, no facts)."""

    name = ""
    daemon: Daemon | None = None  # its version floor and what releases ship

    def wanted(self, pair: PairState) -> bool:
        """Whether this pair uses the component at all."""
        return True

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return ()

    def units(self, pair: PairState) -> tuple[str, ...]:
        """The systemd services it runs: started, enabled, reloaded on a change."""
        return ()

    def paths(self, pair: PairState) -> tuple[str, ...]:
        """Every path it may manage on any platform: the facts read each one's hash."""
        return ()

    def fact_lines(self, pair: PairState) -> Script:
        """Its sections of the one facts script (parsed by its own functions)."""
        return Script()

    def platform_lines(self, pair: PairState) -> Script:
        """Its probes of what the node is, in the facts' platform section: `key=value`
        lines, which `Platform.signals` holds for its files to read."""
        return Script()

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        return []

    def steps(self, ctx: Context, files: Mapping[str, ManagedFile]) -> list[Step]:
        """Steps with logic beyond their files; their files are not planned again."""
        return []

    def prerequisites(self, pair: PairState, facts: Facts) -> list[Prerequisite]:
        return []

    def status_lines(self, pair: PairState) -> Script:
        """Its sections of `status`'s round trip: what the running daemon says."""
        return Script()

    def service_lines(self, action: ServiceAction) -> Script | None:
        """How one of its units takes an action; None: `systemctl` as usual."""
        return None


def render(templates: jinja2.Environment, ctx: Context, template: str, **values: object) -> str:
    """A template rendered over the pair, the node and its platform, plus `values`."""
    return templates.get_template(template).render(
        pair=ctx.pair, node=ctx.node, platform=ctx.platform, **values
    )
