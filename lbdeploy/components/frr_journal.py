"""What FRR and the anycast gate write to the journal, read back for `lbdeploy events`:
BGP sessions up and down, BFD losses, announce and withdraw.

Recorded from bgpd 8.4.4 (tests/unit/data/facts/frr/bgpd-hera.log); through syslog
the same text arrives as `bgpd[PID]: MESSAGE` (lib/zlog_targets.c `zlog_syslog` sends
the message text with its unique id, at 8.4.4 and 10.3; openlog with the daemon's name).
"""

from __future__ import annotations

import re

from lbdeploy.components.frr import GATE, UNIT

JOURNAL_UNITS = (UNIT, GATE)  # whose lines `events` reads
BGPD = "bgpd"  # the syslog identifier of bgpd's lines

# bgpd's log through syslog: "[N9HHH-F8H1M] %ADJCHANGE: neighbor 192.0.2.1(leaf1) in vrf
# default Down Interface down" (the message's unique id first, `log unique-id` being on
# by default; lib/zlog.c at 8.4.4 and 10.3), and "[HZN6M-XRM1G] %NOTIFICATION(Hard Reset):
# sent to neighbor 192.0.2.1 6/10 (Cease/BFD Down) 0 bytes".
_ADJCHANGE = re.compile(r"%ADJCHANGE: neighbor (\S+?)(?:\(([^)]*)\))? in vrf \S+ (Up|Down)\s*(.*)")
_NOTIFICATION = re.compile(
    r"%NOTIFICATION(?:\([^)]*\))?: (sent to|received from) neighbor (\S+) (\d+/\d+) \(([^)]*)\)"
)
_UNIQUE_ID = re.compile(r"^(?:\[[0-9A-Z]{5}-[0-9A-Z]{5}\])?(?:\[EC \d+\])?\s*")


def describe_bgpd(message: str) -> tuple[str, str] | None:
    """A bgpd journal line → (source, what happened): sessions up and down ('bgp'), and a
    session dropped because BFD saw the router go ('bfd'); None for the rest.

    bfdd logs its own state changes only under `debug bfd peer` (bfdd/bfd.c at 8.4.4 and
    10.3), so a BFD loss is seen as bgpd's Cease/BFD Down notification.
    """
    text = _UNIQUE_ID.sub("", message, count=1)
    if match := _ADJCHANGE.search(text):
        peer, name, change, why = match.groups()
        router = f"{peer} ({name})" if name else peer
        return "bgp", f"session with {router} {change.lower()}" + (f": {why}" if why else "")
    if match := _NOTIFICATION.search(text):
        direction, peer, code, why = match.groups()
        source = "bfd" if "BFD Down" in why else "bgp"
        return source, f"{why} ({code}) {direction} {peer}"
    return None


def describe_gate(message: str) -> str | None:
    """systemd's line about the gate → announce/withdraw, as the node sees it.

    e.g. "Finished lbdeploy-anycast.service - lbdeploy anycast gate: ..." (systemd 252:
    a oneshot unit "Finished"; the unit's name and its description, as Debian 12 logs).
    """
    if GATE not in message:
        return None
    for verb, meaning in (
        ("Starting", "hold-down started: the anycast VIPs go on lo once HAProxy has stayed up"),
        ("Finished", "announce: the anycast VIPs are on lo"),
        ("Started", "announce: the anycast VIPs are on lo"),
        ("Stopping", "withdraw: the anycast VIPs leave lo"),
        ("Stopped", "withdrawn: the anycast VIPs are off lo"),
        ("Failed", "gate failed: the anycast VIPs are off lo"),
    ):
        if message.startswith(verb):
            return meaning
    return None
