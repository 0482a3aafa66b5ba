"""FRR: the BGP speaker that announces the anycast VIPs, checked by `vtysh --dryrun`,
applied by frr-reload.py without resetting sessions; the health gate that puts the
VIPs on lo only while HAProxy runs; what `status` reads of BGP and BFD.

Why these choices, with their sources: docs/anycast.md.
"""

from __future__ import annotations

import jinja2

from lbdeploy.components.base import Component, Context, ServiceAction, render
from lbdeploy.components.haproxy import DAEMON_RELOAD
from lbdeploy.components.haproxy import UNIT as HAPROXY_UNIT
from lbdeploy.components.notify import ANYCAST_NOTIFY, WITHDRAWN
from lbdeploy.core.desired import PairState
from lbdeploy.core.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.core.platforms import Daemon, Keyword
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

# Where frr.conf keeps a password: `neighbor PEER password KEY` (the word after group 1).
SECRET_LINES = r"^(\s*neighbor\s+\S+\s+password\s+)"

UNIT = "frr"
GATE = "lbdeploy-anycast"  # the health gate's unit
FRR_CONF = "/etc/frr/frr.conf"
FRR_DAEMONS = "/etc/frr/daemons"
GATE_UNIT = f"/etc/systemd/system/{GATE}.service"
FRR_RELOAD = "/usr/lib/frr/frr-reload.py"  # Debian's frr-pythontools
# HAProxy must have run this long before its node announces the VIPs again.
HOLD_DOWN_S = 5

# `vtysh --dryrun -f FILE` parses FILE with every daemon's commands and runs none:
# exit 0, or 2 with "line N: % Unknown command" for each line it refuses (8.4.4 here).
FRR_CHECK = Validator(("vtysh", "--dryrun", "-f"))
RELOAD = OnChange(UNIT, "reload")
RESTART = OnChange(UNIT, "restart")

# The keywords frr.conf and the reload use, with the first version that has each
# (checked at the FRRouting/frr tags; see core/platforms.py and docs/anycast.md).
DAEMON = Daemon(
    name="FRR",
    package="frr",
    keywords=(
        Keyword(
            "frr defaults datacenter",
            since=(7, 4),
            source="lib/lib_vty.c 'frr defaults PROFILE...' at frr-7.4, frr-8.4.4, frr-10.3",
        ),
        Keyword(
            "bfd profile NAME {receive-interval, transmit-interval, detect-multiplier};"
            " bfd peer X {profile NAME}",
            since=(7, 5),
            source="bfdd/bfdd_cli.c: profiles absent at frr-7.4, present at frr-7.5 (and"
            " `peer` with `profile`); ranges (10-60000) and (2-255) at frr-8.4.4,"
            " (10-4294967) and (1-255) at frr-10.3",
        ),
        Keyword(
            "network X/32 announced only while X is in the RIB (import-check, every profile)",
            since=(7, 4),
            source="bgpd/bgp_vty.c FRR_CFG_DEFAULT_BOOL(BGP_IMPORT_CHECK) at frr-8.4.4, frr-10.3",
        ),
        Keyword(
            "vtysh --dryrun -f FILE: check a config without applying it",
            since=(7, 3),
            source="vtysh/vtysh_main.c at frr-7.3, frr-8.4.4, frr-10.3; exit 2 on an"
            " unknown line (vtysh 8.4.4 here)",
        ),
        Keyword(
            "frr-reload.py --reload FILE: errors on stdout, exit 1 when a line fails",
            since=(8, 0),
            source="tools/frr-reload.py: error handler on stdout and --stdout from frr-8.0;"
            " sys.exit(1) on reload_ok False at frr-8.4.4 and frr-10.3",
        ),
    ),
    shipped={
        ("debian", "11"): "7.5.1",
        ("debian", "12"): "8.4.4",
        ("debian", "13"): "10.3",
        ("ubuntu", "22.04"): "8.1",
        ("ubuntu", "24.04"): "8.4.4",
    },
)


class Frr(Component):
    name = "frr"
    daemon = DAEMON

    def wanted(self, pair: PairState) -> bool:
        return pair.anycast is not None

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return ("frr", "frr-pythontools")  # pythontools: frr-reload.py (and python3)

    def units(self, pair: PairState) -> tuple[str, ...]:
        return (UNIT, GATE)

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (GATE_UNIT, FRR_DAEMONS, FRR_CONF)

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        gate = render(
            templates,
            ctx,
            "anycast-gate.service.j2",
            hold_down=HOLD_DOWN_S,
            haproxy_unit=HAPROXY_UNIT,
            notify=ANYCAST_NOTIFY,
        )
        return [
            ManagedFile(
                GATE_UNIT,
                gate,
                0o644,
                phase=Phase.PREPARE,
                step="units",
                then=DAEMON_RELOAD,
                on_change=OnChange(GATE, "reload"),
            ),
            # Debian's own modes: /etc/frr is frr:frr 0750, its files 0640.
            ManagedFile(
                FRR_DAEMONS,
                render(templates, ctx, "frr-daemons.j2"),
                0o640,
                owner="frr",
                group="frr",
                on_change=RESTART,
            ),
            # It holds the BGP passwords: root and FRR only.
            ManagedFile(
                FRR_CONF,
                render(templates, ctx, "frr.conf.j2"),
                0o640,
                owner="frr",
                group="frr",
                validate=FRR_CHECK,
                on_change=RELOAD,
                redact=ctx.pair.secrets,
                secret_lines=SECRET_LINES,
            ),
        ]

    def service_lines(self, action: ServiceAction) -> Script | None:
        """A changed frr.conf goes in by frr-reload.py: only the lines that differ are
        applied, so adding a VIP resets no session. A stopped FRR starts instead."""
        if action.service != UNIT or action.action != "reload":
            return None
        from lbdeploy.components.frr_runtime import networks_command

        reload = cmd(
            "if systemctl is-active -q {unit}; then {reload} --reload {conf};"
            " else systemctl restart {unit}; fi",
            unit=UNIT,
            reload=FRR_RELOAD,
            conf=FRR_CONF,
        )
        # frr-reload.py puts back the `network` lines that `lbdeploy withdraw` took out
        # of the running config: a node held out goes out again (announced a moment).
        again = cmd("if [ -e {flag} ]; then ", flag=WITHDRAWN) + networks_command(True)
        return Script().run(reload).line(again + cmd("; fi"))

    def status_lines(self, pair: PairState) -> Script:
        from lbdeploy.components.frr_runtime import status_lines  # it reads this module

        return status_lines(pair.anycast) if pair.anycast is not None else Script()
