"""Backend servers in and out of rotation: `drain`, `maint`, `ready`, on every node at once.

HAProxy's own words and its runtime API (`set server SVC/SRV state ...`), applied on
every node so whichever holds the VIP honours it, and saved to HAProxy's server-state
file at once, so that a reload, a restart or an `up` keeps it (`load-server-state-from-file`).
"""

from __future__ import annotations

import time
from typing import Literal

from lbdeploy.components.haproxy import (
    HAPROXY_SOCKET,
    SERVER_STATE,
    socket_lines,
    socket_missing,
)
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.defaults import DRAIN_TIMEOUT
from lbdeploy.core.desired import Desired, ServiceState
from lbdeploy.core.report import Report, StepResult
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.remote.polls import wait_until_idle
from lbdeploy.remote.runs import Emit, NodeRun, not_ready, on_each, open_runs
from lbdeploy.scripts.script import Script, split_sections
from lbdeploy.scripts.shell import cmd

AdminState = Literal["drain", "maint", "ready"]
POLL = 0.5


def find_service(desired: Desired, server: str, service: str | None) -> ServiceState:
    """The one service that has `server`; ambiguity and typos are errors that list the choices."""
    having = [s for s in desired.pair.services if any(x.name == server for x in s.servers)]
    if service is not None:
        having = [s for s in having if s.name == service]
    if len(having) == 1:
        return having[0]
    if not having:
        known = sorted({x.name for s in desired.pair.services for x in s.servers})
        where = f" in service {service}" if service else ""
        raise UsageError(f"no server named {server}{where} (servers: {', '.join(known)})")
    names = ", ".join(s.name for s in having)
    raise UsageError(f"{server} is in several services ({names}): name one with --service")


def state_script(service: str, server: str, state: AdminState) -> Script:
    """Set the state through the runtime API, check HAProxy took it, save the state file."""
    return (
        Script()
        .run(
            cmd(
                "out=$(echo {command} | socat -t 2 stdio unix-connect:{socket});"
                ' if [ -n "$out" ]; then echo "$out" >&2; exit 1; fi',
                command=f"set server {service}/{server} state {state}",
                socket=HAPROXY_SOCKET,
            )
        )
        .run(
            cmd(
                "echo 'show servers state' | socat -t 2 stdio unix-connect:{socket} > {new}"
                " && mv -f {new} {file}",
                socket=HAPROXY_SOCKET,
                new=SERVER_STATE + ".new",
                file=SERVER_STATE,
            )
        )
    )


def sessions_script(service: str, server: str) -> Script:
    """The server's current sessions (scur), as HAProxy counts them."""
    return (
        Script()
        .section("sessions")
        .probe(
            cmd(
                "echo 'show stat' | socat -t 2 stdio unix-connect:{socket}"
                " | awk -F, -v p={proxy} -v s={server} '$1 == p && $2 == s {print $5}'",
                socket=HAPROXY_SOCKET,
                proxy=service,
                server=server,
            )
        )
    )


def set_state(
    desired: Desired,
    server: str,
    service: str | None,
    state: AdminState,
    emit: Emit,
    wait: bool = False,
    timeout: float = DRAIN_TIMEOUT,
    creds: Credentials = NO_CREDENTIALS,
) -> Report:
    """`lbdeploy drain|maint|ready SERVER`: every node at once; --wait until sessions end."""
    start = time.monotonic()
    svc = find_service(desired, server, service)
    report = Report(f"{state} {svc.name}/{server}", {})

    def apply(run: NodeRun) -> None:
        run.session.run(state_script(svc.name, server, state), step="server", timeout=30)
        run.record(StepResult("server", "changed", f"{svc.name}/{server} {state}"), emit)

    extra = socket_lines()
    with open_runs(desired, creds, lock=True, extra=extra, command=report.command) as runs:
        report.nodes = runs.reports
        for run in runs.ready:
            run.report.error = run.report.error or socket_missing(run.facts)
        if not runs.complete:
            report.notes.append(not_ready("changed"))
        else:
            on_each(runs.ready, apply)
            if wait and state != "ready" and not any(r.report.failed for r in runs.ready):
                _await_no_sessions(report, runs.ready, svc.name, server, timeout)
    report.seconds = time.monotonic() - start
    return report


def _await_no_sessions(
    report: Report, runs: list[NodeRun], service: str, server: str, timeout: float
) -> None:
    """Poll (bounded) every node until the server has no session left anywhere."""
    script = sessions_script(service, server)

    def sessions() -> dict[str, int]:
        left: dict[str, int] = {}

        def count(run: NodeRun) -> None:
            sections = split_sections(run.session.run(script, step="wait", timeout=30).stdout)
            text = "".join(sections.get("sessions", [])).strip()
            left[run.name] = int(text) if text.isdigit() else 0

        on_each(runs, count)
        return left

    busy = {n: c for n, c in wait_until_idle(sessions, timeout, POLL).items() if c}
    if busy:
        said = ", ".join(f"{n}: {c}" for n, c in busy.items())
        raise LbdeployError(
            f"{service}/{server} still has sessions after {timeout:.0f} s ({said});"
            " it stays drained"
        )
    report.notes.append(f"{service}/{server}: no session left on any node")
