"""HAProxy at runtime: the proven reload, certificates through its runtime API, and what
`status` and `up`'s wait ask its stats socket (the servers, the version, the peers that
sync its stick tables)."""

from __future__ import annotations

import re

from lbdeploy.components.haproxy import HAPROXY_CFG, HAPROXY_SOCKET
from lbdeploy.core.paths import APPLIED, PENDING
from lbdeploy.scripts.script import NOTE, Script
from lbdeploy.scripts.shell import Command, cmd

RELOAD_FAILED = 66
# About 20 s of polls every 0.02 s (plus the check's own ~10 ms): a new worker shows
# ~50 ms after the reload, and polling every 0.2 s cost 0.1-0.2 s per node. The journal
# (for a load failure, to give up at once) is read every 10th poll only.
RELOAD_WAIT_TRIES = 700

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


def peers_lines() -> Script:
    """`show peers`: one block per peer, opened by `id=NAME(remote,...)`; its `state=` is
    the session's stream state (`EST`: connected), printed only while a session exists."""
    return (
        Script()
        .section("haproxy-peers")
        .probe(
            cmd(
                "echo 'show peers' | socat -t 2 stdio unix-connect:{socket} 2>/dev/null",
                socket=HAPROXY_SOCKET,
            )
        )
    )


_PEER = re.compile(r"\bid=([^\s(]+)\(remote,")
_STATE = re.compile(r"\bstate=(\w+)")  # not app_state= or learn_state= (HAProxy 3.0)
_LAST = re.compile(r"\blast_status=(\w+)")


def parse_peers(lines: list[str]) -> dict[str, str]:
    """Each remote peer → `EST` when its session is up: connected (`state=EST`) and its
    handshake done (`last_status=ESTA`, set on both sides only then); else that last
    handshake status (`CONN`, `HSHK`, `NAME`, ...), as HAProxy 2.6 and 3.0 print them."""
    found: dict[str, str] = {}
    name = ""
    for line in lines:
        if peer := _PEER.search(line):
            name = peer.group(1)
            last = _LAST.search(line)
            found[name] = last.group(1) if last else "NONE"
        elif " id=" in line and "(local," in line:
            name = ""  # this node itself: its block says nothing of a session
        elif name and found[name] == "ESTA" and (state := _STATE.search(line)):
            found[name] = "EST" if state.group(1) == "EST" else found[name]
    return found
