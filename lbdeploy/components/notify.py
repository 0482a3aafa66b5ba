"""keepalived's notify handler: each VRRP transition as a journal line, metrics for
node_exporter (state, moves, standby, failed deliveries: docs/metrics.md), and (with
`alerts`) a webhook POST; the URL lives in a root-only file."""

from __future__ import annotations

import jinja2

from lbdeploy.components.base import Component, Context, render
from lbdeploy.components.metrics import TEXTFILES
from lbdeploy.core.desired import PairState
from lbdeploy.core.files import ManagedFile, Validator
from lbdeploy.core.paths import STATE_DIR

NOTIFY_SCRIPT = "/usr/local/lib/lbdeploy/vrrp-notify"
ALERTS_FILE = "/etc/lbdeploy/alerts"  # the webhook URL (it may hold a token)
SH_CHECK = Validator(("sh", "-n"))


class Notify(Component):
    name = "notify"

    def wanted(self, pair: PairState) -> bool:
        return bool(pair.vips)  # keepalived's handler: only a pair with VRRP VIPs runs it

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return ("curl",) if pair.webhook else ()  # the handler POSTs alerts with it

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (NOTIFY_SCRIPT, ALERTS_FILE)

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        from lbdeploy.components.keepalived import STANDBY_FILE  # it imports this module

        script = render(
            templates,
            ctx,
            "vrrp-notify.sh.j2",
            alerts_file=ALERTS_FILE,
            state_dir=STATE_DIR,
            textfiles=TEXTFILES,
            standby_file=STANDBY_FILE,
        )
        return [
            ManagedFile(NOTIFY_SCRIPT, script, 0o755, validate=SH_CHECK),
            # The URL often carries a token, and a rotation's old one is unknown to the
            # run: fingerprints only, like a key.
            ManagedFile(
                ALERTS_FILE,
                render(templates, ctx, "alerts.j2"),
                0o600,
                secret=True,
                about="the webhook URL of VRRP alerts",
            ),
        ]
