"""What the lab's router and client see: the router's ECMP route to a VIP, the moment it
changes, and a bounded load from the client. Shared by the anycast tests and the
side-by-side benchmark (bench/sidebyside.py).

Times are the host's clock on both sides (containers share it); every loop here is
bounded in count and time and stops by itself.
"""

from __future__ import annotations

import json
import subprocess
import time

from lab import lab as labmod


def _exec(node: str, command: str) -> str:
    result = labmod.node_exec(node, command)
    if result.returncode != 0:
        raise RuntimeError(f"{node}: {command}: {result.stderr.strip()}")
    return result.stdout


def link_local(node: str) -> str:
    """The node's link-local address on eth1: the router's IPv6 nexthop for the node
    (FRR announces over IPv6 with the link-local next hop, as BGP does on a shared link)."""
    out = json.loads(_exec(node, "ip -j -6 addr show dev eth1 scope link"))
    return next(str(a["local"]) for link in out for a in link["addr_info"] if "local" in a)


def nexthops(vip: str) -> set[str]:
    """The gateways of the router's kernel route to `vip` (one, or the ECMP set)."""
    flag = "-6" if ":" in vip else "-4"
    routes = json.loads(_exec(labmod.ROUTER, f"ip -j {flag} route show {vip}") or "[]")
    found = set()
    for route in routes:
        if "gateway" in route:
            found.add(route["gateway"])
        for hop in route.get("nexthops", []):
            found.add(hop["gateway"])
    return found


def wait_nexthops(vip: str, expected: set[str], timeout: float) -> float:
    """Seconds until the router's route to `vip` has exactly `expected` (bounded poll)."""
    start = time.monotonic()
    while True:
        hops = nexthops(vip)
        if hops == expected:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{vip} via {hops}, expected {expected} within {timeout} s")
        time.sleep(0.2)


def router_watch(vip: str, gone: str, timeout: float, back: bool = False) -> subprocess.Popen[str]:
    """Start a watcher in the router that prints two instants of the host clock (epoch
    seconds) around the moment the route to `vip` no longer goes via `gone` (`back`: goes
    via it again): the last look that still saw the old route began after the first, and
    the second is taken once the new route is seen. It gives up by itself after `timeout`.

    It looks when the kernel reports a route change (`ip monitor route`) and every 0.1 s
    besides, in one bash with no `date` forks: a 10 ms loop of forks kept the router's
    CPU share busy and delayed its bfdd by up to 0.3 s, BFD's detection time in the lab,
    which then dropped every node's session at once (docs/anycast.md, the lab)."""
    flag = "-6" if ":" in vip else "-4"
    changed = "" if back else "!"
    script = (
        f"end=$(( SECONDS + {int(timeout) + 1} )); "
        f"coproc MON {{ exec timeout {timeout} ip {flag} monitor route; }}; "
        "last=$EPOCHREALTIME; "
        "while [ $SECONDS -lt $end ]; do now=$EPOCHREALTIME; "
        f"if {changed} ip {flag} route show {vip} | grep -q 'via {gone} '; then "
        'echo "$last $EPOCHREALTIME"; kill $MON_PID 2>/dev/null; exit 0; fi; '
        'last=$now; read -r -t 0.1 _ <&"${MON[0]}" 2>/dev/null; [ $? -eq 1 ] && sleep 0.1; done; '
        "kill $MON_PID 2>/dev/null; echo timeout; exit 1"
    )
    return subprocess.Popen(
        ["docker", "exec", f"{labmod.PROJECT}_{labmod.ROUTER}_1", "bash", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def route_gaps(vip: str, seconds: float) -> subprocess.Popen[str]:
    """Start a watcher in the router that prints 'looking', then the instant (epoch) of
    every look, every 0.1 s for at most `seconds`, that found no route to `vip` at all."""
    flag = "-6" if ":" in vip else "-4"
    script = (
        f"echo looking; i=0; while [ $i -lt {int(seconds / 0.1)} ]; do i=$((i+1)); "
        f'[ -z "$(ip {flag} route show {vip})" ] && echo "$EPOCHREALTIME"; sleep 0.1; done'
    )
    return subprocess.Popen(
        ["docker", "exec", f"{labmod.PROJECT}_{labmod.ROUTER}_1", "bash", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def gaps_until_now(watcher: subprocess.Popen[str]) -> list[float]:
    """The instants a `route_gaps` watcher found no route, up to now (it is stopped; the
    loop in the router ends by itself at its bound)."""
    time.sleep(0.3)  # one more look after the caller's last event
    watcher.terminate()
    out, err = watcher.communicate(timeout=30)
    lines = out.splitlines()
    if not lines or lines[0] != "looking":
        raise AssertionError(f"the route watcher never ran: {out} {err}")
    return [float(at) for at in lines[1:]]


def change_span(watcher: subprocess.Popen[str], timeout: float) -> tuple[float, float]:
    """The two instants (epoch) a `router_watch` printed: the route changed after the first
    and had changed by the second (one poll apart, more on a loaded machine)."""
    out, err = watcher.communicate(timeout=timeout + 10)
    if watcher.returncode != 0:
        raise AssertionError(f"route never changed: {out} {err}")
    before, seen = (float(t) for t in out.split())
    return before, seen


def watched(watcher: subprocess.Popen[str], since: float, timeout: float) -> float:
    """Seconds from `since` (epoch) to the moment the watcher saw the route change: an upper
    bound of the change's delay, as the bounds the tests assert need."""
    return change_span(watcher, timeout)[1] - since


def client_load(url: str, seconds: int, threads: int = 4) -> subprocess.Popen[str]:
    """`threads` loops in the client, each GET on a new connection, for `seconds` (and
    at most 5000 requests each): one line per request, 'epoch code' (000: failed)."""
    loop = (
        f"end=$(( $(date +%s) + {seconds} )); n=0; "
        f'while [ "$(date +%s)" -lt "$end" ] && [ $n -lt 5000 ]; do n=$((n+1)); '
        f"c=$(curl -s -o /dev/null -w '%{{http_code}}' -m 2 {url}); "
        'echo "$(date +%s.%N) $c"; done'
    )
    script = " & ".join([f"( {loop} )"] * threads) + " & wait"
    return subprocess.Popen(
        ["docker", "exec", f"{labmod.PROJECT}_{labmod.CLIENT}_1", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def load_results(load: subprocess.Popen[str], timeout: float) -> list[tuple[float, str]]:
    """(epoch, HTTP code) of every request of a `client_load`, once it has ended."""
    out, _ = load.communicate(timeout=timeout)
    return [(float(at), code) for at, code in (line.split() for line in out.splitlines())]
