"""The cheap part of the facts, polled while waiting for the VIP: addresses, probes, servers.

`address_lines` keeps `ip -o addr` in $lbaddr, so each VIP probe that follows it asks the
shell, not another `ip | grep`, whether the VIP is local.
"""

from __future__ import annotations

from lbdeploy.addresses import IPAddress, hostport, needle
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd


def address_lines() -> Script:
    """Every address of the node (`ip -o addr`), also kept in $lbaddr for the probes."""
    return (
        Script()
        .section("addresses")
        .probe(cmd("lbaddr=$(ip -o addr show 2>/dev/null) || :; printf '%s\\n' \"$lbaddr\""))
    )


def probe_lines(targets: list[tuple[IPAddress, int]]) -> Script:
    """Does VIP:port answer? Asked only where the VIP is local; others skip the wait."""
    script = Script().section("probes")
    for vip, port in targets:
        script.probe(
            cmd(
                "case ${lbaddr:-} in *{needle}*) if timeout 2 bash -c {connect} 2>/dev/null;"
                " then echo {up}; else echo {down}; fi;; esac",
                needle=needle(vip),
                connect=f"</dev/tcp/{vip}/{port}",
                up=f"{hostport(vip, port)} up",
                down=f"{hostport(vip, port)} down",
            )
        )
    return script


def serving_script(probes: list[tuple[IPAddress, int]], extra: Script | None = None) -> Script:
    """The cheap part of the facts, polled while waiting for the VIP: addresses and probes
    (and `extra`, e.g. HAProxy's servers)."""
    s = address_lines()
    s.extend(probe_lines(probes))
    return s.extend(extra) if extra is not None else s
