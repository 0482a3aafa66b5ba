"""HAProxy: its config (checked by `haproxy -c`), its unit's drop-in, and a reload that is
proven by a new worker, or undone."""

from __future__ import annotations

import jinja2

from lbdeploy.components.base import Component, Context, ServiceAction, render
from lbdeploy.core.desired import PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.core.paths import APPLIED, PENDING
from lbdeploy.core.platforms import Daemon, Keyword
from lbdeploy.scripts.script import NOTE, Script
from lbdeploy.scripts.shell import Command, cmd, sh

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
RELOAD_FAILED = 66
# About 20 s of polls every 0.02 s (plus the check's own ~10 ms): a new worker shows
# ~50 ms after the reload, and polling every 0.2 s cost 0.1-0.2 s per node. The journal
# (for a load failure, to give up at once) is read every 10th poll only.
RELOAD_WAIT_TRIES = 700

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
                render(templates, ctx, "haproxy.cfg.j2", **places),
                0o640,
                group="haproxy",
                validate=HAPROXY_CHECK,
                on_change=RELOAD,
                redact=ctx.pair.secrets,
                secret_lines=SECRET_LINES,
            ),
        ]

    def status_lines(self, pair: PairState) -> Script:
        return version_lines().extend(servers_lines())

    def service_lines(self, action: ServiceAction) -> Script | None:
        restore = HAPROXY_CFG in action.replaced
        if action.action == "ssl-cert":
            script = Script().run(ssl_cert_update(action.paths))
            # Only when the runtime API refused: prove a reload instead.
            proven = reload(restore)
            return script.line(cmd('if [ "$api" != ok ]; then :; ') + proven + cmd("; fi"))
        if action.action == "reload":
            return Script().line(reload(restore))
        return None


_WORKER_PID = (
    "echo 'show info' | socat -t 2 stdio unix-connect:{socket} 2>/dev/null | sed -n 's/^Pid: //p'"
)


def reload(restore: bool = False) -> Command:
    """Reload haproxy and prove the new config runs; else say so, and undo only our own.

    The reload is asynchronous and a config that passed `haproxy -c` can still fail to
    load (a port already in use): the master then keeps the old workers and systemd
    reports success. Only a new worker answering on the stats socket proves the
    reload. `restore`: this run replaced haproxy.cfg (its previous version is the
    `.lbdeploy-bak` this run made), so on failure that version goes back, the live
    file is the running one again, and the next `up` sees the difference and tries
    again. Otherwise the file on disk is not this run's to undo (a graceful restart, a
    reload owed by an earlier run, a certificate fallback, /etc/default/haproxy alone):
    it stays, and the reload stays owed.
    """
    undo, said = _on_failure(restore)
    return (
        cmd(
            "before=$(" + _WORKER_PID + "); since=$(date +%s)\n"
            "systemctl reload-or-restart haproxy\n"
            "i=0\n"
            "while :; do\n"
            "  now=$(" + _WORKER_PID + ")\n"
            '  if [ -n "$now" ] && [ "$now" != "$before" ]; then break; fi\n'
            "  i=$((i+1))\n"
            "  if [ $((i % 10)) -eq 0 ] || [ $i -ge {tries} ]; then\n"
            '    log=$(journalctl -q -u haproxy --since "@$since" --no-pager 2>/dev/null'
            " || true)\n"
            '    if echo "$log" | grep -q "Loading failure" || [ $i -ge {tries} ]; then\n'
            '      echo "$log" | grep ALERT >&2 || true\n      ',
            socket=HAPROXY_SOCKET,
            tries=RELOAD_WAIT_TRIES,
        )
        + undo
        + cmd(
            "\n      echo {message} >&2\n      exit {code}\n    fi\n  fi\n  sleep 0.02\ndone",
            message=f"haproxy kept running its previous config: {said}",
            code=RELOAD_FAILED,
        )
    )


def _on_failure(restore: bool) -> tuple[Command, str]:
    """What a failed reload does to the live file, and how it says so."""
    if restore:
        undo = cmd(
            "if [ -f {bak} ]; then umask 077; cp -p {bak} {cfg};"
            " grep -vF {entry} {applied} > {new} || true; mv -f {new} {applied}; rm -f {owed};"
            " else umask 077; mkdir -p {pending}; echo reload > {owed}; fi",
            pending=PENDING,
            bak=HAPROXY_CFG + ".lbdeploy-bak",
            cfg=HAPROXY_CFG,
            entry="  " + HAPROXY_CFG,
            applied=APPLIED,
            new=APPLIED + ".new",
            owed=f"{PENDING}/haproxy",  # the live file is the running one again: nothing owed
        )
        said = f"the new one did not load; {HAPROXY_CFG} was put back to the running version"
    else:
        undo = cmd(
            "umask 077; mkdir -p {pending}; echo reload > {owed}",
            pending=PENDING,
            owed=f"{PENDING}/haproxy",
        )
        said = (
            f"the config on disk did not load; {HAPROXY_CFG} was not changed by this run and"
            " is left as it is (the reload stays owed: fix the cause, then run `lbdeploy up`"
            " again)"
        )
    return undo, said


def ssl_cert_update(paths: tuple[str, ...]) -> Command:
    """New certificates through HAProxy's runtime API: no reload, no worker restarted.

    `set ssl cert` takes the PEM (already moved into place, so the next reload agrees)
    as a payload ended by an empty line; `commit ssl cert` makes it live. If HAProxy
    refuses either, a proven reload loads the files instead; a note says which was used.
    """
    return cmd(
        "api=ok; for p in {paths}; do"
        " out=$({ printf 'set ssl cert %s <<\n' \"$p\"; cat \"$p\"; printf '\n'; }"
        ' | socat -t 5 stdio unix-connect:{socket} 2>&1) || out="socat failed";'
        ' case "$out" in *Transaction*) ;; *) api="set ssl cert $p: $out"; break ;; esac;'
        ' out=$(echo "commit ssl cert $p" | socat -t 5 stdio unix-connect:{socket} 2>&1)'
        ' || out="socat failed";'
        ' case "$out" in *Success*) ;; *) api="commit ssl cert $p: $out"; break ;; esac;'
        ' done; if [ "$api" = ok ]; then echo {used};'
        ' else echo {fallback}"$(echo "$api" | head -c 300 | tr "\n" " ")"; fi',
        paths=paths,
        socket=HAPROXY_SOCKET,
        used=NOTE + "certificates replaced through HAProxy's runtime API (no reload)",
        fallback=NOTE + "HAProxy's runtime API refused the certificate, so haproxy was"
        " reloaded instead: ",
    )


def servers_lines() -> Script:
    """HAProxy's own view of its servers, from the stats socket: proxy,server,status."""
    return (
        Script()
        .section("servers")
        .probe(
            cmd(
                "echo 'show stat' | socat -t 2 stdio unix-connect:{socket} 2>/dev/null"
                " | cut -d, -f1,2,18",
                socket=HAPROXY_SOCKET,
            )
        )
    )


def version_lines() -> Script:
    return Script().section("haproxy-version").probe(cmd("haproxy -v 2>/dev/null | head -1"))


def parse_version(lines: list[str]) -> str:
    """'HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://...' → '2.6.12-1+deb12u1'."""
    first = " ".join(lines[:1]).split(" - ")[0]
    return first.removeprefix("HAProxy version ").split(" ")[0]


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
