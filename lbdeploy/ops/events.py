"""`lbdeploy events`: one timeline from every node's journal, in time order.

What is read: the VRRP transitions that lbdeploy's notify handler logs (tag
lbdeploy-vrrp), lbdeploy's own runs (lbdeploy-run) and anycast withdrawals
(lbdeploy-anycast), haproxy's starts, stops, reloads and server health changes,
keepalived's starts and stops, bgpd's sessions up and down and its BFD losses, and the
anycast gate's starts and stops (announce, withdraw). Each node's clock is compared
with this machine's during the same round trip, and a visible skew is said.

A tag is a claim anyone can make (`logger -t lbdeploy-vrrp` works for every local user),
so lbdeploy's own lines count only when root wrote them: journald's `_UID=0`, asked for
on the command line and checked again in each JSON entry. The units' lines need no such
check: journald itself places a line in a unit (`_SYSTEMD_UNIT`, or pid 1, or root).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lbdeploy.components import haproxy, keepalived
from lbdeploy.components.frr import UNIT as FRR_UNIT
from lbdeploy.components.frr_journal import BGPD, JOURNAL_UNITS, describe_bgpd, describe_gate
from lbdeploy.components.notify import ANYCAST_TAG
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
    r"Restart|Failed|failed|killed|Finished|ADJCHANGE|NOTIFICATION"
)
SKEW = 0.5  # seconds of clock difference worth saying
# journal tag → source
TAGS = {"lbdeploy-vrrp": "vrrp", "lbdeploy-run": "lbdeploy", ANYCAST_TAG: "anycast"}
UNITS = (haproxy.UNIT, keepalived.UNIT, *JOURNAL_UNITS)  # whose journal lines are read
# What a JSON entry of lbdeploy's own lines holds (journalctl adds its __ fields).
FIELDS = "_UID,SYSLOG_IDENTIFIER,MESSAGE,_SOURCE_REALTIME_TIMESTAMP"


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the epoch, the node's own clock
    node: str
    source: str  # vrrp, lbdeploy, haproxy, keepalived, anycast, bgp, bfd
    message: str

    def to_json(self) -> dict[str, object]:
        when = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds")
        return {"at": when, "node": self.node, "source": self.source, "message": self.message}


def events_json(events: list[Event], notes: list[str], errors: list[str]) -> dict[str, object]:
    """What `events --json` prints: stable, documented in docs/json.md (and tested there)."""
    return {"events": [e.to_json() for e in events], "notes": notes, "errors": errors}


def events_script(since: str) -> Script:
    relative = f"-{since}"
    return (
        Script()
        .section("clock")
        .probe(cmd("date +%s.%N"))
        .section("lbdeploy")
        .probe(
            cmd(
                "journalctl -q --no-pager -o json --output-fields={fields} --since {since}"
                " {tags} _UID=0",
                fields=FIELDS,
                since=relative,
                tags=[word for tag in TAGS for word in ("-t", tag)],
            )
        )
        .section("units")
        .probe(
            cmd(
                "journalctl -q --no-pager -o short-unix --since {since} {units}",
                since=relative,
                units=[word for unit in UNITS for word in ("-u", unit)],
            )
        )
    )


_LINE = re.compile(r"(\d+\.\d+) \S+ ([^\[:]+)(?:\[\d+\])?: (.*)")


def parse_events(node: str, sections: dict[str, list[str]]) -> list[Event]:
    """The journal's lines → events: lbdeploy's own (root's only), the daemons' that matter."""
    found = [e for line in sections.get("lbdeploy", []) if (e := _own_event(node, line))]
    for line in sections.get("units", []):
        match = _LINE.match(line)
        if not match:
            continue
        at, ident, message = float(match.group(1)), match.group(2), match.group(3)
        if ident.startswith("lbdeploy-") or not INTERESTING.search(message):
            continue  # lbdeploy's lines are read once, from their own section
        if ident == BGPD:
            if described := describe_bgpd(message):
                found.append(Event(at, node, *described))
            continue
        if ident == "systemd" and (gate := describe_gate(message)):
            found.append(Event(at, node, "anycast", gate))
            continue
        found.append(Event(at, node, _source(ident, message), message))
    return found


def _source(ident: str, message: str) -> str:
    """Whose line it is: systemd's about a unit, or a daemon's own (FRR has several)."""
    if ident == "systemd":
        if "eepalive" in message:
            return "keepalived"
        return "frr" if f"{FRR_UNIT}.service" in message else "haproxy"
    if "eepalived" in ident:
        return "keepalived"
    return "haproxy" if ident.startswith("haproxy") else "frr"  # zebra, bfdd, watchfrr, ...


def _own_event(node: str, line: str) -> Event | None:
    """One `journalctl -o json` entry → an event, if root wrote it under one of our tags.

    e.g. {"_UID":"0","SYSLOG_IDENTIFIER":"lbdeploy-run","MESSAGE":"lbdeploy up by ...",
    "__REALTIME_TIMESTAMP":"1764090009000000"}; a value that is not printable UTF-8 comes
    as a list of bytes, a field given twice as a list of values.
    """
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    source = TAGS.get(_text(entry.get("SYSLOG_IDENTIFIER")))
    if source is None or _text(entry.get("_UID")) != "0":
        return None
    stamp = _text(entry.get("_SOURCE_REALTIME_TIMESTAMP")) or _text(
        entry.get("__REALTIME_TIMESTAMP")
    )
    if not stamp.isdigit():
        return None
    return Event(int(stamp) / 1e6, node, source, _text(entry.get("MESSAGE")))


def _text(value: object) -> str:
    """A journal field's value as JSON gives it: a string, bytes as numbers, or several."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(b, int) for b in value):
        return bytes(b & 0xFF for b in value).decode("utf-8", errors="replace")
    if isinstance(value, list) and value:
        return _text(value[0])
    return ""


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
