"""`status` and `verify`: the facts round trip plus a few sections, read in parallel.

The extra sections (HAProxy's version, keepalived's VRRP states, the servers on the
stats socket, HTTP answers on local VIPs) are built with the script builder and parsed
here by pure functions; only `gather_status`, `check_from_here` and `verify` touch
the network.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from lbdeploy.addresses import IPAddress, hostport, needle
from lbdeploy.components import for_pair, haproxy, haproxy_runtime, keepalived
from lbdeploy.components.frr_runtime import anycast_status
from lbdeploy.components.tls import parse_loaded
from lbdeploy.core.credentials import NO_CREDENTIALS, Credentials
from lbdeploy.core.desired import Desired, PairState, ServiceState
from lbdeploy.core.facts import Facts, ServiceFact
from lbdeploy.core.health import NodeStatus, answer_from_holder, parse_servers, verify_problems
from lbdeploy.core.steps import same_content
from lbdeploy.ops.handshake import check_service, served
from lbdeploy.remote.runs import NodeRun, open_runs
from lbdeploy.scripts.script import Script, split_sections
from lbdeploy.scripts.shell import cmd


def _http_probe(svc: ServiceState, vip: IPAddress) -> Script:
    return Script().probe(
        cmd(
            "if ip -o addr show | grep -qF {needle}; then"
            " code=$(timeout 3 bash -c {request} 2>/dev/null | cut -c10-12);"
            ' echo {target} "${code:-none}"; fi',
            needle=needle(vip),
            request=f"exec 3<>/dev/tcp/{vip}/{svc.port}"
            ' && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && head -c 12 <&3',
            target=svc.target(vip),
        )
    )


def status_lines(pair: PairState) -> Script:
    """Sections `status` adds to the facts round trip: each component's, then HTTP answers."""
    s = Script()
    for component in for_pair(pair):
        s.extend(component.status_lines(pair))
    s.section("http")
    for svc in pair.services:
        if svc.mode == "http" and not svc.tls:  # HTTPS: judged by a handshake instead
            for vip in svc.vips:
                s.extend(_http_probe(svc, vip))
    return s


def node_status(
    pair: PairState, name: str, facts: Facts, raw: str, drift: tuple[str, ...]
) -> NodeStatus:
    sections = split_sections(raw)
    held = {a.ip for a in facts.addresses.get(pair.interface.name, ())}
    absent = ServiceFact("absent", "absent", 0)
    return NodeStatus(
        node=name,
        vrrp=keepalived.parse_vrrp_states(sections.get("vrrp", [])),
        vrrp_nice=keepalived.parse_vrrp_nice(sections.get("vrrp-nice", [])),
        holds=tuple(str(v.vip) for v in pair.vips if v.vip in held),
        haproxy=facts.services.get(haproxy.UNIT, absent).active,
        keepalived=facts.services.get(keepalived.UNIT, absent).active,
        haproxy_version=haproxy_runtime.parse_version(sections.get("haproxy-version", [])),
        servers=parse_servers(sections.get("servers", [])),
        standby=keepalived.standby(facts),
        drift=drift,
        http=dict(line.split(None, 1) for line in sections.get("http", []) if " " in line),
        tcp=dict(facts.probes),
        certs=parse_loaded(sections),
        anycast=anycast_status(pair.anycast, facts, sections) if pair.anycast else None,
        sync=haproxy_runtime.parse_peers(sections.get("haproxy-peers", [])),
    )


def _live_drift(run: NodeRun) -> tuple[str, ...]:
    """Managed files whose live content differs from what lbdeploy would write now."""
    live = run.facts.files
    return tuple(p for p, f in run.files.items() if p in live and not same_content(f, run.facts))


def gather_status(desired: Desired, creds: Credentials = NO_CREDENTIALS) -> list[NodeStatus]:
    """Every node's status in one round trip each, in parallel; no lock, nothing changed."""
    pair = desired.pair
    with open_runs(desired, creds, lock=False, extra=status_lines(pair)) as runs:
        statuses = {
            r.name: node_status(pair, r.name, r.facts, r.raw, _live_drift(r)) for r in runs.ready
        }
        return [
            statuses.get(name) or NodeStatus(name, error=report.error)
            for name, report in runs.reports.items()
        ]


def check_from_here(vip: str, port: int, mode: str, timeout: float = 3.0) -> str:
    """'ok', what went wrong, or 'unreachable from here' (then ask a node)."""
    if mode == "http":
        try:
            url = f"http://{hostport(vip, port)}/"
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return "ok" if response.status < 500 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return "ok" if exc.code < 500 else f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError):
                return "connection refused"
            return "unreachable from here"
        except OSError:
            return "unreachable from here"
    try:
        with socket.create_connection((vip, port), timeout=timeout):
            return "ok"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError:
        return "unreachable from here"


def _answer(svc: ServiceState, vip: IPAddress, holder: NodeStatus | None) -> str:
    """'ok' or why not, for one VIP of a service: from here, else from the node holding it."""
    if svc.tls:
        answer = "ok" if served(str(vip), svc.port, None) else "unreachable from here"
        mode = "tcp"
    else:
        answer, mode = check_from_here(str(vip), svc.port, svc.mode), svc.mode
    if answer == "unreachable from here":
        # Ask the node holding the VIP: the status round trip probed the port from inside.
        answer = answer_from_holder(holder, svc.target(vip), mode)
    return answer


def _holder(statuses: list[NodeStatus], vip: str) -> NodeStatus | None:
    """The node to ask about a VIP: its VRRP holder, or a node announcing it (anycast)."""
    held = next((s for s in statuses if vip in s.holds), None)
    announcing = (s for s in statuses if s.anycast and vip in s.anycast.announcing)
    return held or next(announcing, None)


@dataclass
class Verdict:
    statuses: list[NodeStatus]
    answers: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def verify(desired: Desired, creds: Credentials = NO_CREDENTIALS) -> Verdict:
    """Exactly one holder per VIP, every service answering on it, haproxy running everywhere;
    every serving node announcing every anycast VIP to every peer, and answering on it."""
    statuses = gather_status(desired, creds)
    answers: dict[str, str] = {}
    tls_problems: list[str] = []
    for svc in desired.pair.services:
        holders = {vip: _holder(statuses, str(vip)) for vip in svc.vips}
        if svc.tls:
            first = next((h for h in holders.values() if h is not None), None)
            tls_problems += check_service(svc, first.certs if first else None)
        for vip, target in svc.targets:
            answers[target] = _answer(svc, vip, holders[vip])
    problems = verify_problems(desired.pair, statuses, answers) + tls_problems
    return Verdict(statuses, answers, problems)
