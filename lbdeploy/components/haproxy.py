"""HAProxy: its config (checked by `haproxy -c`), its unit's drop-in, its admin socket;
how the running daemon takes a change and what it reports is `haproxy_runtime.py`."""

from __future__ import annotations

import jinja2

from lbdeploy.components.base import Component, Context, Outage, ServiceAction, render
from lbdeploy.core.desired import PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.core.platforms import Daemon, Keyword, Platform
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd, sh

UNIT = "haproxy"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
HAPROXY_DROPIN = "/etc/systemd/system/haproxy.service.d/lbdeploy.conf"
DEFAULT_HAPROXY = "/etc/default/haproxy"
SERVER_STATE = "/var/lib/haproxy/server-state"  # admin states (drain, maint) across reloads
# lbdeploy's admin socket, in a directory only root can enter: Debian's /run/haproxy is
# writable by the haproxy group, whose members could put a socket of their own there
# and be handed certificates with their keys (`set ssl cert`). Made at every start and
# reload by the unit's drop-in, since a reload re-executes haproxy, which binds it anew.
SOCKET_DIR = "/run/lbdeploy-haproxy"
HAPROXY_SOCKET = f"{SOCKET_DIR}/admin.sock"
# ACME HTTP-01 answers: path -> key authorization. Empty on disk; entries come and go
# through the runtime API (`add map`, `del map`) while an order runs (components/acme.py).
ACME_MAP = "/etc/haproxy/acme-challenge.map"

# Where haproxy.cfg keeps a password: `stats auth USER:PASS` and a userlist's
# `user NAME insecure-password|password VALUE` (the word after group 1 is masked).
SECRET_LINES = r"^(\s*stats\s+auth\s+[^:\s]+:|\s*user\s+\S+\s+(?:insecure-)?password\s+)"
HAPROXY_CHECK = Validator(("haproxy", "-c", "-f"))
RELOAD = OnChange(UNIT, "reload")
SSL_CERT = OnChange(UNIT, "ssl-cert")
DAEMON_RELOAD = sh("systemctl", "daemon-reload")
# failover-test's default: no load balancer on the node serving the VIP (VRRP or anycast).
STOP = Outage("stopped haproxy", cmd("systemctl stop haproxy"), cmd("systemctl start haproxy"))

# The keywords haproxy.cfg uses, with the first version that has each (see core/platforms.py).
DAEMON = Daemon(
    name="HAProxy",
    package="haproxy",
    keywords=(
        Keyword(
            "http-check send meth GET uri PATH",
            since=(2, 2),
            source="haproxy doc/configuration.txt: absent at v2.0.0, present at v2.2.0",
        ),
        Keyword(
            "stats socket ... expose-fd listeners (seamless reload; implicit from 2.6)",
            since=(1, 8),
            source="haproxy configuration.txt v2.0.0; mworker sockpair commit 2be557f7c (2.6)",
        ),
        Keyword(
            "default-server init-addr last,libc,none",
            since=(1, 7),
            source="haproxy configuration.txt 'init-addr' at v2.0.0 and v3.0.0",
        ),
        Keyword(
            "show info Pid: a new worker proves a reload",
            since=(1, 8),
            source="haproxy src/stats.c INF_PID; systemd reload is asynchronous (kill -USR2)",
        ),
        Keyword(
            "bind/server [IPv6]:PORT (an IPv6 VIP, stats address or server)",
            since=(2, 2),
            source="haproxy -c accepts it on 2.6.12 (Debian 12) and 3.0.11 (Debian 13, lab);"
            " str2sa_range has parsed '[addr]:port' since long before the floor",
        ),
        Keyword(
            "localpeer NAME (global): the node's name in the peers section",
            since=(2, 2),
            source="haproxy configuration.txt: absent at v2.1.0, present at v2.2.0, v2.6.0,"
            " v3.0.0; without it 2.6.12 -c drops the section ('no peer named <hostname>')",
        ),
        Keyword(
            "peers NAME + peer NAME ADDR:PORT; stick-table type ip|ipv6 size expire peers"
            " store http_req_rate(PERIOD); stick on src",
            since=(1, 5),
            source="haproxy configuration.txt 3.5 'Peers' and 4.2 'stick-table' at v2.0.0,"
            " v2.6.0, v3.0.0; peers protocol 2.1 in src/peers.c from v2.2.0 to v3.0.0",
        ),
        Keyword(
            "http-request track-sc0 src; http-request deny deny_status 429 if"
            " { sc_http_req_rate(0) gt N }",
            since=(1, 6),
            source="haproxy configuration.txt at v2.0.0, v2.6.0 and v3.0.0; haproxy -c 2.6.12",
        ),
    ),
    shipped={
        ("debian", "11"): "2.2.9",
        ("debian", "12"): "2.6.12",
        ("debian", "13"): "3.0.11",
        ("ubuntu", "20.04"): "2.0.33",
        ("ubuntu", "22.04"): "2.4.14",
        ("ubuntu", "24.04"): "2.8.5",
    },
)


class Haproxy(Component):
    name = "haproxy"
    daemon = DAEMON

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return ("haproxy", "socat")  # socat: the admin socket, for reloads and `status`

    def units(self, pair: PairState) -> tuple[str, ...]:
        return (UNIT,)

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (HAPROXY_DROPIN, DEFAULT_HAPROXY, HAPROXY_CFG)

    def platform_lines(self, pair: PairState) -> Script:
        """Whether haproxy has the Prometheus exporter: `haproxy -vv` is the dearest probe
        of all, so only a pair with `metrics` asks."""
        if pair.stats is None or not pair.stats.metrics:
            return Script()
        return Script().probe(
            cmd(
                "if command -v haproxy >/dev/null 2>&1; then if haproxy -vv 2>/dev/null"
                " | grep -qi 'prometheus'; then echo promex=yes; else echo promex=no; fi; fi"
            )
        )

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        places = {
            "socket": HAPROXY_SOCKET,
            "socket_dir": SOCKET_DIR,
            "state_file": SERVER_STATE,
            "acme_map": ACME_MAP,
        }
        return [
            ManagedFile(
                HAPROXY_DROPIN,
                render(templates, ctx, "haproxy-state.conf.j2", **places),
                0o644,
                phase=Phase.PREPARE,
                step="units",
                then=DAEMON_RELOAD,
            ),
            ManagedFile(
                DEFAULT_HAPROXY,
                render(templates, ctx, "default-haproxy.j2"),
                0o644,
                on_change=RELOAD,
            ),
            # It holds the stats password: root and haproxy's group only.
            ManagedFile(
                HAPROXY_CFG,
                render(templates, ctx, "haproxy.cfg.j2", promex=has_promex(ctx.platform), **places),
                0o640,
                group="haproxy",
                validate=HAPROXY_CHECK,
                on_change=RELOAD,
                redact=ctx.pair.secrets,
                secret_lines=SECRET_LINES,
            ),
        ]

    def status_lines(self, pair: PairState) -> Script:
        from lbdeploy.components.haproxy_runtime import peers_lines, servers_lines, version_lines

        script = version_lines().extend(servers_lines())
        return script.extend(peers_lines()) if pair.peers else script

    def service_lines(self, action: ServiceAction) -> Script | None:
        from lbdeploy.components.haproxy_runtime import reload, ssl_cert_update  # it reads this

        restore = HAPROXY_CFG in action.replaced
        if action.action == "ssl-cert":
            script = Script().run(ssl_cert_update(action.paths))
            # Only when the runtime API refused: prove a reload instead.
            proven = reload(restore)
            return script.line(cmd('if [ "$api" != ok ]; then :; ') + proven + cmd("; fi"))
        if action.action == "reload":
            return Script().line(reload(restore))
        return None


def has_promex(platform: Platform) -> bool | None:
    """Whether the node's haproxy has the Prometheus exporter; None: not asked, or no
    haproxy yet (the config then asks for it, and `haproxy -c` judges)."""
    return {"yes": True, "no": False}.get(platform.signals.get("promex", ""))


def socket_lines() -> Script:
    """Whether haproxy's admin socket is where lbdeploy puts it: a node still running a
    config of an older lbdeploy has it in /run/haproxy, where lbdeploy no longer goes."""
    return (
        Script()
        .section("admin-socket")
        .probe(cmd("if [ -S {s} ]; then echo yes; else echo no; fi", s=HAPROXY_SOCKET))
    )


def socket_missing(facts: Facts) -> str | None:
    """Why operating haproxy through its socket must wait for `up`; None when it need not."""
    fact = facts.services.get(UNIT)
    if fact is None or fact.active != "active":
        return None  # a start creates the socket where the config says
    if "".join(facts.sections.get("admin-socket", [])).strip() == "yes":
        return None
    return (
        f"haproxy runs without its admin socket at {HAPROXY_SOCKET} (a config of an older"
        " lbdeploy, or one edited by hand): run `lbdeploy up` first"
    )
