"""The notify handlers: each VRRP transition (keepalived's) and each start or stop of an
anycast node's announcements (the gate's, `withdraw`'s) as a journal line, metrics for
node_exporter (docs/metrics.md), and (with `alerts`) a webhook POST; the URL lives in a
root-only file."""

from __future__ import annotations

import jinja2

from lbdeploy.components.base import Component, Context, render
from lbdeploy.components.metrics import TEXTFILES
from lbdeploy.core.desired import PairState
from lbdeploy.core.files import ManagedFile, Validator
from lbdeploy.core.paths import STATE_DIR

NOTIFY_SCRIPT = "/usr/local/lib/lbdeploy/vrrp-notify"
ANYCAST_NOTIFY = "/usr/local/lib/lbdeploy/anycast-notify"
# While this exists, `lbdeploy withdraw` holds the node out of the routers. In /run:
# a reboot clears it, as FRR then starts from frr.conf and announces again.
WITHDRAWN = "/run/lbdeploy-anycast-withdrawn"
ANYCAST_TAG = "lbdeploy-anycast"  # journal tag of announce and withdraw
ALERTS_FILE = "/etc/lbdeploy/alerts"  # the webhook URL (it may hold a token)
SH_CHECK = Validator(("sh", "-n"))


class Notify(Component):
    name = "notify"

    def wanted(self, pair: PairState) -> bool:
        return bool(pair.vips) or pair.anycast is not None

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return ("curl",) if pair.webhook else ()  # the handler POSTs alerts with it

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (NOTIFY_SCRIPT, ANYCAST_NOTIFY, ALERTS_FILE)

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
            notify_script=NOTIFY_SCRIPT,
        )
        handlers = []
        if ctx.pair.vips:
            handlers.append(ManagedFile(NOTIFY_SCRIPT, script, 0o755, validate=SH_CHECK))
        if ctx.pair.anycast is not None:
            anycast = render(
                templates,
                ctx,
                "anycast-notify.sh.j2",
                alerts_file=ALERTS_FILE,
                state_dir=STATE_DIR,
                withdrawn_flag=WITHDRAWN,
                tag=ANYCAST_TAG,
            )
            handlers.append(ManagedFile(ANYCAST_NOTIFY, anycast, 0o755, validate=SH_CHECK))
        return [
            *handlers,
            # The URL often carries a token, and a rotation's old one is unknown to the
            # run: fingerprints only, like a key.
            ManagedFile(
                ALERTS_FILE,
                render(templates, ctx, "alerts.j2"),
                0o600,
                secret=True,
                about="the webhook URL of VRRP and anycast alerts",
            ),
        ]
