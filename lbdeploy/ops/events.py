"""`lbdeploy events`: one timeline from every node's journal, in time order.

What is read: the VRRP transitions that lbdeploy's notify handler logs (tag
lbdeploy-vrrp), lbdeploy's own runs (lbdeploy-run), haproxy's starts, stops, reloads
and server health changes, keepalived's starts and stops. Each node's clock is compared
with this machine's during the same round trip, and a visible skew is said.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.desired import Desired
from lbdeploy.errors import UsageError
from lbdeploy.remote.runs import NodeRun, on_each, open_runs
from lbdeploy.scripts.script import Script, split_sections
from lbdeploy.scripts.shell import cmd

SINCE = re.compile(r"[1-9][0-9]{0,5}[smhd]")
# Lines of the daemons' own journals worth a place in an incident's timeline.
INTERESTING = re.compile(
    r"Start|Stopp|Reload|is DOWN|is UP|going DOWN|back UP|Loading failure|ALERT|exited|"
    r"Restart|Failed|failed|killed"
)
SKEW = 0.5  # seconds of clock difference worth saying


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the epoch, the node's own clock
    node: str
    source: str  # vrrp, lbdeploy, haproxy, keepalived
    message: str

    def to_json(self) -> dict[str, object]:
        when = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds")
        return {"at": when, "node": self.node, "source": self.source, "message": self.message}


def events_script(since: str) -> Script:
    relative = f"-{since}"
    return (
        Script()
        .section("clock")
        .probe(cmd("date +%s.%N"))
        .section("lbdeploy")
        .probe(
            cmd(
                "journalctl -q --no-pager -o short-unix --since {since}"
                " -t lbdeploy-vrrp -t lbdeploy-run",
                since=relative,
            )
        )
        .section("units")
        .probe(
            cmd(
                "journalctl -q --no-pager -o short-unix --since {since} -u haproxy -u keepalived",
                since=relative,
            )
        )
    )


_LINE = re.compile(r"(\d+\.\d+) \S+ ([^\[:]+)(?:\[\d+\])?: (.*)")


def parse_events(node: str, sections: dict[str, list[str]]) -> list[Event]:
    """`journalctl -o short-unix` lines → events; the daemons' chatter is left out."""
    found = []
    for section in ("lbdeploy", "units"):
        for line in sections.get(section, []):
            match = _LINE.match(line)
            if not match:
                continue
            at, ident, message = float(match.group(1)), match.group(2), match.group(3)
            if section == "units" and ident.startswith("lbdeploy-"):
                continue  # read once, from its own tag
            if ident == "lbdeploy-vrrp":
                source = "vrrp"
            elif ident == "lbdeploy-run":
                source = "lbdeploy"
            elif section == "units" and INTERESTING.search(message):
                source = "keepalived" if "eepalived" in ident else "haproxy"
                if ident == "systemd":
                    source = "keepalived" if "eepalive" in message else "haproxy"
            else:
                continue
            found.append(Event(at, node, source, message))
    return found


def gather_events(
    desired: Desired, since: str, creds: Credentials = NO_CREDENTIALS
) -> tuple[list[Event], list[str], list[str]]:
    """Every node's events merged in time order, notes on clock skew, and node errors."""
    if not SINCE.fullmatch(since):
        raise UsageError(f"--since takes a number and s, m, h or d (e.g. 10m, 2h), not {since!r}")
    script = events_script(since)
    found: list[Event] = []
    notes: list[str] = []

    def read(run: NodeRun) -> None:
        before = time.time()
        result = run.session.run(script, step="events", timeout=60)
        after = time.time()
        sections = split_sections(result.stdout)
        found.extend(parse_events(run.name, sections))
        clock = "".join(sections.get("clock", [])).strip()
        if clock:
            skew = float(clock) - (before + after) / 2
            if abs(skew) > max(SKEW, after - before):
                side = "ahead of" if skew > 0 else "behind"
                notes.append(f"{run.name}'s clock is {abs(skew):.1f} s {side} this machine's")

    with open_runs(desired, creds, lock=False) as runs:
        on_each(runs.ready, read)
        errors = [f"{n}: {r.error}" for n, r in runs.reports.items() if r.error]
    return sorted(found, key=lambda e: (e.at, e.node)), notes, errors
