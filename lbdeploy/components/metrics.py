"""node_exporter and its textfile directory, where lbdeploy's own metrics go: VRRP states
and moves, webhook failures, certificate expiry, the anycast gate (docs/metrics.md).

Installed when the inventory asks for metrics (`stats.metrics`); the handlers write their
metrics whenever the directory exists, so a node_exporter installed by hand gets them too.
"""

from __future__ import annotations

from lbdeploy.components.base import Component
from lbdeploy.core.desired import PairState
from lbdeploy.core.paths import STATE_DIR
from lbdeploy.scripts.shell import Command, cmd

PACKAGE = "prometheus-node-exporter"
# Debian's node_exporter reads this directory (its built-in --collector.textfile.directory).
TEXTFILES = "/var/lib/prometheus/node-exporter"


class Metrics(Component):
    name = "metrics"

    def wanted(self, pair: PairState) -> bool:
        return pair.stats is not None and pair.stats.metrics

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return (PACKAGE,)  # Debian enables and starts it; its directory comes with it


def label(value: str) -> str:
    """A value as a Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def publish(source: str, name: str) -> Command:
    """Copy a metric file of lbdeploy's into node_exporter's directory as NAME; never fails.

    node_exporter's user may write its directory, so nothing is opened there: the copy is
    made in lbdeploy's root-only directory and renamed into place (`mv -T`: a rename never
    follows a link planted under the final name); a linked directory, or one on another
    filesystem (no rename), gets nothing.
    """
    return cmd(
        "textfiles={textfiles}; own={own};"
        ' if [ -d "$textfiles" ] && [ ! -L "$textfiles" ] && [ -d "$own" ]'
        ' && [ "$(stat -c %d "$own")" = "$(stat -c %d "$textfiles")" ]'
        ' && tmp=$(mktemp "$own/.metric.XXXXXX"); then'
        ' { cp {source} "$tmp" && chmod 0644 "$tmp" && mv -T "$tmp" "$textfiles"/{name}; }'
        ' || rm -f "$tmp"; fi; true',
        textfiles=TEXTFILES,
        own=STATE_DIR,
        source=source,
        name=name,
    )
