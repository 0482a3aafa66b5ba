"""FRR: the BGP speaker that announces the anycast VIPs, checked by `vtysh --dryrun`,
applied by frr-reload.py without resetting sessions; the health gate that puts the
VIPs on lo only while HAProxy runs; what `status` reads of BGP and BFD.

Why these choices, with their sources: docs/anycast.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jinja2

from lbdeploy.components.base import Component, Context, ServiceAction, render
from lbdeploy.components.haproxy import DAEMON_RELOAD
from lbdeploy.components.haproxy import UNIT as HAPROXY_UNIT
from lbdeploy.components.metrics import TEXTFILES
from lbdeploy.components.notify import SH_CHECK
from lbdeploy.core.desired import PairState
from lbdeploy.core.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.core.paths import STATE_DIR
from lbdeploy.core.platforms import Daemon, Keyword
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Command, cmd

# Where frr.conf keeps a password: `neighbor PEER password KEY` (the word after group 1).
SECRET_LINES = r"^(\s*neighbor\s+\S+\s+password\s+)"

UNIT = "frr"
GATE = "lbdeploy-anycast"  # the health gate's unit
FRR_CONF = "/etc/frr/frr.conf"
FRR_DAEMONS = "/etc/frr/daemons"
GATE_UNIT = f"/etc/systemd/system/{GATE}.service"
# The gate's metric for Prometheus: each anycast VIP announced (1) or withdrawn (0).
GATE_METRIC = "/usr/local/lib/lbdeploy/anycast-metric"
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
            " neighbor X bfd profile NAME",
            since=(7, 5),
            source="bfdd/bfdd_cli.c and bgpd/bgp_bfd.c: absent at frr-7.4, present at frr-7.5;"
            " ranges (10-60000) and (2-255) at frr-8.4.4, (10-4294967) and (1-255) at frr-10.3",
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
        return (GATE_METRIC, GATE_UNIT, FRR_DAEMONS, FRR_CONF)

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        gate = render(
            templates,
            ctx,
            "anycast-gate.service.j2",
            hold_down=HOLD_DOWN_S,
            haproxy_unit=HAPROXY_UNIT,
            anycast_metric=GATE_METRIC,
        )
        metric = render(
            templates, ctx, "anycast-metric.sh.j2", textfiles=TEXTFILES, state_dir=STATE_DIR
        )
        return [
            # Before the gate that runs it.
            ManagedFile(
                GATE_METRIC, metric, 0o755, validate=SH_CHECK, phase=Phase.PREPARE, step="units"
            ),
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
        return Script().run(
            cmd(
                "if systemctl is-active -q {unit}; then {reload} --reload {conf};"
                " else systemctl restart {unit}; fi",
                unit=UNIT,
                reload=FRR_RELOAD,
                conf=FRR_CONF,
            )
        )

    def status_lines(self, pair: PairState) -> Script:
        return bgp_lines(pair.anycast is not None and pair.anycast.bfd is not None)


def bgp_lines(bfd: bool) -> Script:
    """FRR's own view, as JSON: each session, and each BFD peer (when BFD is on)."""
    s = Script().section("bgp").probe(_vtysh("show bgp summary json"))
    if bfd:
        s.section("bfd").probe(_vtysh("show bfd peers json"))
    return s


def _vtysh(command: str) -> Command:
    return cmd(
        "if systemctl is-active -q {unit}; then vtysh -c {command}; fi",
        unit=UNIT,
        command=command,
    )


@dataclass(frozen=True)
class Session:
    """One BGP session as FRR reports it."""

    peer: str
    afi: str  # ipv4Unicast, ipv6Unicast
    remote_as: int
    state: str  # Established, Active, Connect, Idle, ...
    sent: int | None  # prefixes announced to the peer (pfxSnt)

    @property
    def up(self) -> bool:
        return self.state == "Established"


def parse_bgp_summary(lines: list[str]) -> list[Session]:
    """`show bgp summary json`: {"ipv4Unicast": {"peers": {ADDR: {...}}}, "ipv6Unicast": ...}."""
    data = _json(lines)
    sessions = []
    for afi, summary in data.items():
        if not isinstance(summary, dict):
            continue
        for peer, fields in summary.get("peers", {}).items():
            sent = fields.get("pfxSnt")
            sessions.append(
                Session(
                    peer=peer,
                    afi=afi,
                    remote_as=int(fields.get("remoteAs", 0)),
                    state=str(fields.get("state", "unknown")),
                    sent=int(sent) if isinstance(sent, int) else None,
                )
            )
    return sessions


def parse_bfd_peers(lines: list[str]) -> dict[str, str]:
    """`show bfd peers json`: a list of {"peer": ADDR, "status": "up"|"down"|"init"|...}."""
    data = json.loads("\n".join(lines)) if "".join(lines).strip() else []
    if not isinstance(data, list):
        return {}
    return {str(p["peer"]): str(p.get("status", "unknown")) for p in data if "peer" in p}


def _json(lines: list[str]) -> dict[str, Any]:
    text = "\n".join(lines).strip()
    if not text:
        return {}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}
