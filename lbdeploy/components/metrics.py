"""node_exporter's textfile directory, where lbdeploy's own metrics go: VRRP states
and moves, webhook failures, certificate expiry, the anycast gate (docs/metrics.md).

The handlers write there whenever the directory exists: a node_exporter that lbdeploy
installs (`stats.exporters`, components/exporters.py) or one installed by hand.
"""

from __future__ import annotations

from lbdeploy.core.paths import STATE_DIR
from lbdeploy.scripts.shell import Command, cmd

# Debian's node_exporter reads this directory (its built-in --collector.textfile.directory).
TEXTFILES = "/var/lib/prometheus/node-exporter"


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
