"""keepalived: VRRP instances that move the VIPs, checked by `keepalived -t`; a drop-in
that restarts it and removes its VIPs when it dies; the track script's user; the
standby flag of `switchover`; what `status` reads of its live state."""

from __future__ import annotations

import re
from typing import Literal

import jinja2

from lbdeploy.components.base import (
    Component,
    Context,
    Outage,
    Prerequisite,
    ServiceAction,
    render,
)
from lbdeploy.components.haproxy import DAEMON_RELOAD
from lbdeploy.components.notify import NOTIFY_SCRIPT
from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.core.parsers import parse_priorities
from lbdeploy.core.platforms import Daemon, Keyword
from lbdeploy.core.roll import RollNode
from lbdeploy.core.vrrp import VRRP_NICE
from lbdeploy.scripts.script import Script, read_lines
from lbdeploy.scripts.shell import cmd

UNIT = "keepalived"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
KEEPALIVED_DROPIN = "/etc/systemd/system/keepalived.service.d/lbdeploy.conf"
# failover-test --crash: keepalived frozen as on a hung node, so no clean handover: the
# others take the VIPs only when its adverts stop.
FREEZE = Outage(
    "froze keepalived", cmd("pkill -STOP -x keepalived"), cmd("pkill -CONT -x keepalived")
)
STANDBY_FILE = "/etc/keepalived/lbdeploy-standby"  # 1: put on standby by `switchover`
KEEPALIVED_PID = "/run/keepalived.pid"
KEEPALIVED_DATA = "/tmp/keepalived.data"  # keepalived's SIGUSR1 state dump
SCRIPT_USER = "keepalived_script"

_SCRIPT_USER_LINE = re.compile(r"^(\s*script_user\s+)\S+.*$", re.MULTILINE)


def keepalived_test_copy(content: str) -> str:
    """The same config with `script_user root`, for `keepalived -t` alone.

    keepalived 2.2.7's config test is killed (exit 143) whenever a non-root
    script_user is set, even for a valid file; only that one line differs.
    """
    return _SCRIPT_USER_LINE.sub(r"\1root", content)


# Where keepalived.conf keeps a password: `auth_pass` (the word after group 1 is masked).
SECRET_LINES = r"^(\s*auth_pass\s+)"
KEEPALIVED_CHECK = Validator(("keepalived", "-t", "-f"), test_copy=keepalived_test_copy)
RELOAD = OnChange(UNIT, "reload")

# The keywords keepalived.conf uses, with the first version that has each (see core/platforms.py).
DAEMON = Daemon(
    name="keepalived",
    package="keepalived",
    keywords=(
        Keyword(
            "vrrp_track_file NAME { file; weight 0; init_file }",
            since=(2, 0),
            source="keepalived commit d0fa2d6d (init_file), keepalived.conf.5 at v2.0.19/v2.1.0",
        ),
        Keyword(
            "vrrp_script interval/timeout in whole seconds, fall/rise",
            since=(2, 0),
            source="keepalived.conf.5 'VRRP script(s)' at v2.0.19 and v2.3.3",
        ),
        Keyword(
            "enable_script_security + script_user",
            since=(2, 0),
            source="keepalived.conf.5 at v2.0.19; lib/notify.c at v2.2.7",
        ),
        Keyword(
            "vrrp_instance ... version 3 (an IPv6 VIP)",
            since=(2, 0),
            source="keepalived -t 2.2.7 accepts it (exit 5 for an unknown keyword); VRRPv3 since"
            " 1.2.15 (ChangeLog); lab: 2.2.7 and 2.3.3 elect over IPv6",
        ),
        Keyword(
            "vrrp_sync_group NAME { group { INSTANCE ... } }",
            since=(2, 0),
            source="keepalived.conf.5 at v2.0.19; all members must be able to be MASTER"
            " (acassen/keepalived#2169)",
        ),
        Keyword(
            "vrrp_higher_prio_send_advert (global_defs): a healed partition re-ARPs",
            since=(2, 0),
            source="keepalived commit 72fd2706 (v1.3.5); global_parser.c and vrrp.c"
            " vrrp_state_master_rx at v2.2.7 and v2.3.3",
        ),
        Keyword(
            "vrrp_priority -20 (global_defs): the VRRP process's nice value",
            since=(2, 0),
            source="global_parser.c vrrp_prio_handler at v2.0.19, v2.2.7 and v2.3.1;"
            " lib/process.c set_process_priority (setpriority, CAP_SYS_NICE) at v2.2.7",
        ),
        Keyword(
            "advert_int 0.01..40.95 with version 3 (advert_ms: sub-second adverts, IPv4 too)",
            since=(2, 0),
            source="keepalived vrrp_parser.c vrrp_adv_handler (TIMER_HZ/100 resolution) and"
            " vrrp.c 'VRRPv3 advertisement interval' at v2.2.7 and v2.3.3; keepalived -t 2.2.7",
        ),
        Keyword(
            "keepalived -t: config test (any non-zero exit is a failure)",
            since=(2, 1),
            source="keepalived.8 and main.c config_test_exit at v2.0.19..v2.3.3"
            " (codes changed in 2.2)",
        ),
    ),
    shipped={
        ("debian", "11"): "2.1.5",
        ("debian", "12"): "2.2.7",
        ("debian", "13"): "2.3.3",
        ("ubuntu", "20.04"): "2.0.19",
        ("ubuntu", "22.04"): "2.2.4",
        ("ubuntu", "24.04"): "2.2.8",
    },
)


def has_script_user(facts: Facts) -> bool:
    return bool("".join(facts.sections.get("user", [])).strip())


def standby(facts: Facts) -> bool:
    """Put on standby by `switchover`: it holds no VIP until `--back`."""
    return "".join(facts.sections.get("standby", [])).strip() not in ("", "0")


def priorities(facts: Facts) -> dict[str, int]:
    """The live config's priority per VRRP instance: the roll simulates VRRP's election."""
    return parse_priorities(facts.sections.get("priorities", []))


def timing(facts: Facts) -> dict[str, tuple[int, float]]:
    """The live config's VRRP version and advert interval (s) per instance."""
    out = {}
    for line in facts.sections.get("vrrp-timing", []):
        parts = line.split()
        try:
            out[parts[0]] = (int(parts[1]), float(parts[2]))
        except (IndexError, ValueError):
            continue
    return out


def version_change(node: NodeState, facts: Facts) -> Literal["faster", "slower"] | None:
    """Whether the new config changes an instance's VRRP version, and its adverts' pace."""
    live = timing(facts)
    for role in node.vrrp:
        was = live.get(role.instance.name)
        if was is not None and was[0] != role.instance.version:
            return "faster" if float(role.instance.advert) < was[1] else "slower"
    return None


def running(facts: Facts) -> bool:
    fact = facts.services.get(UNIT)
    return fact is not None and fact.active in ("active", "reloading")


class Keepalived(Component):
    name = "keepalived"
    daemon = DAEMON

    def wanted(self, pair: PairState) -> bool:
        return bool(pair.vips)

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return ("keepalived", "procps")  # procps: pgrep for the track script

    def units(self, pair: PairState) -> tuple[str, ...]:
        return (UNIT,)

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (KEEPALIVED_DROPIN, KEEPALIVED_CONF)

    def fact_lines(self, pair: PairState) -> Script:
        s = Script().section("user").probe(cmd("id -u {user} 2>/dev/null", user=SCRIPT_USER))
        s.section("standby").probe(read_lines(STANDBY_FILE))
        s.section("priorities").probe(
            cmd(
                'if [ -f {conf} ]; then awk \'$1 == "vrrp_instance" { i = $2 }'
                ' $1 == "priority" && i != "" { print i, $2 }\' {conf}; fi',
                conf=KEEPALIVED_CONF,
            )
        )
        return s.section("vrrp-timing").probe(
            cmd(
                'if [ -f {conf} ]; then awk \'$1 == "vrrp_instance" { i = $2; v[i] = 2; a[i] = 1 }'
                ' $1 == "version" && i != "" { v[i] = $2 } $1 == "advert_int" && i != ""'
                " { a[i] = $2 } END { for (i in v) print i, v[i], a[i] }' {conf}; fi",
                conf=KEEPALIVED_CONF,
            )
        )

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        conf = render(
            templates,
            ctx,
            "keepalived.conf.j2",
            script_user=SCRIPT_USER,
            standby_file=STANDBY_FILE,
            notify_script=NOTIFY_SCRIPT,
            vrrp_nice=VRRP_NICE,
        )
        return [
            ManagedFile(
                KEEPALIVED_DROPIN,
                render(templates, ctx, "keepalived-restart.conf.j2"),
                0o644,
                phase=Phase.PREPARE,
                step="units",
                then=DAEMON_RELOAD,
            ),
            # It holds the VRRP password: root and keepalived's readers only.
            ManagedFile(
                KEEPALIVED_CONF,
                conf,
                0o640,
                validate=KEEPALIVED_CHECK,
                on_change=RELOAD,
                redact=ctx.pair.secrets,
                secret_lines=SECRET_LINES,
            ),
        ]

    def status_lines(self, pair: PairState) -> Script:
        return vrrp_lines()

    def prerequisites(self, pair: PairState, facts: Facts) -> list[Prerequisite]:
        return [
            Prerequisite(
                done=has_script_user(facts),
                why=f"add system user {SCRIPT_USER} for keepalived's track script",
                command=cmd(
                    "id -u {user} >/dev/null 2>&1 || useradd --system --no-create-home"
                    " --shell /usr/sbin/nologin {user}",
                    user=SCRIPT_USER,
                ),
            )
        ]


def standby_script(on: bool) -> Script:
    """Set the track file that `switchover` uses: 1 = give up every VIP."""
    return Script().run(cmd("echo {value} > {file}", value=int(on), file=STANDBY_FILE))


def vrrp_lines() -> Script:
    """keepalived's own VRRP states (SIGUSR1 dump), waited for (bounded) until it settles.

    The dump is read only when root owns it: any local user can create files in /tmp.
    It holds the VRRP password, which must not stay in /tmp (older keepalived releases
    write it readable by all): it is removed as soon as it is read, whatever was found.
    """
    return (
        Script()
        .section("vrrp")
        .probe(
            cmd(
                'pid=$(cat {pidfile} 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null;'
                ' then rm -f {data}; kill -USR1 "$pid"; i=0; last=-1; while [ $i -lt 40 ]; do'
                " size=$(stat -c %s {data} 2>/dev/null || echo -1);"
                ' [ "$size" -gt 0 ] && [ "$size" = "$last" ] && break;'
                " last=$size; i=$((i+1)); sleep 0.05; done;"
                ' if [ ! -L {data} ] && [ "$(stat -c %u {data} 2>/dev/null)" = 0 ]; then'
                ' awk \'/VRRP Instance = /{n=$4} /^ *State = /{if (n != "") {print n, $3; n=""}}\''
                " {data}; fi; rm -f {data}; fi",
                pidfile=KEEPALIVED_PID,
                data=KEEPALIVED_DATA,
            )
        )
        # The nice value its child runs at (the VRRP process; no checker child without
        # virtual servers): vrrp_priority fails quietly without CAP_SYS_NICE.
        .section("vrrp-nice")
        .probe(
            cmd(
                'pid=$(cat {pidfile} 2>/dev/null); if [ -n "$pid" ]; then'
                ' ps -o ni= --ppid "$pid" 2>/dev/null | sort -n | head -n 1; fi',
                pidfile=KEEPALIVED_PID,
            )
        )
    )


def parse_vrrp_nice(lines: list[str]) -> int | None:
    """The VRRP process's nice value, or None when keepalived (or its child) is not there."""
    try:
        return int("".join(lines).strip())
    except ValueError:
        return None


def parse_vrrp_states(lines: list[str]) -> dict[str, str]:
    return dict(line.split(None, 1) for line in lines if len(line.split()) == 2)


def roll_node(node: NodeState, facts: Facts, touched: bool, new_config: bool = True) -> RollNode:
    """What the roll (`core/roll.py`) needs of a node: its live and new VRRP priorities
    (`new_config` False: a restart, which brings back the priorities it runs)."""
    desired = {role.instance.name: role.priority for role in node.vrrp}
    live = priorities(facts) or desired
    return RollNode(
        name=node.name,
        is_master=node.is_master,
        running=live if running(facts) else None,
        after=desired if new_config else live,
        touched=touched,
        version_change=version_change(node, facts) if new_config else None,
    )


def touched_by(action: ServiceAction) -> bool:
    """Whether a planned action starts, reloads or restarts keepalived (the roll asks)."""
    return action.service == UNIT and action.action != "enable"
