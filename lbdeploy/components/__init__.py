"""One module per thing lbdeploy manages on a node; `for_pair` is the list the pipeline walks.

Adding a component is a module here and one entry below (see docs/architecture.md).
"""

from __future__ import annotations

from lbdeploy.components.acme import Acme
from lbdeploy.components.base import Component
from lbdeploy.components.exporters import Exporters
from lbdeploy.components.failsafe import Failsafe
from lbdeploy.components.frr import Frr
from lbdeploy.components.haproxy import Haproxy
from lbdeploy.components.keepalived import Keepalived
from lbdeploy.components.network import Network
from lbdeploy.components.notify import Notify
from lbdeploy.components.packages import Packages
from lbdeploy.components.sysctl import Sysctl
from lbdeploy.components.tls import Tls
from lbdeploy.core.desired import PairState
from lbdeploy.core.facts import FactsRequest
from lbdeploy.core.platforms import Daemon


def for_pair(pair: PairState) -> tuple[Component, ...]:
    """The pair's components in the order their steps and files apply."""
    parts = (Tls(), Acme(), Haproxy(), Notify(), Keepalived(), Frr(), Exporters())
    daemons = tuple(c for c in parts if c.wanted(pair))
    return (Network(), Sysctl(), Packages(daemons), Failsafe(), *daemons)


def units(pair: PairState) -> tuple[str, ...]:
    """The systemd services the pair's components run, in order."""
    return tuple(u for c in for_pair(pair) for u in c.units(pair))


def daemons(pair: PairState) -> tuple[Daemon, ...]:
    """The daemons the pair's components run: their versions are judged on every node."""
    return tuple(c.daemon for c in for_pair(pair) if c.daemon is not None)


def owner(pair: PairState, unit: str) -> Component | None:
    return next((c for c in for_pair(pair) if unit in c.units(pair)), None)


def facts_request(pair: PairState) -> FactsRequest:
    """What every node's facts script asks, from every component of the pair."""
    parts = for_pair(pair)
    return FactsRequest(
        paths=list(dict.fromkeys(p for c in parts for p in c.paths(pair))),
        packages=list(dict.fromkeys(p for c in parts for p in c.packages(pair))),
        units=list(units(pair)),
        probes=pair.probe_targets,
        parts=[c.fact_lines(pair) for c in parts],
        platform=[c.platform_lines(pair) for c in parts],
    )
