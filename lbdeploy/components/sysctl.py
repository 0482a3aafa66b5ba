"""ip_nonlocal_bind for each VIP family (net.ipv4, net.ipv6), now and after a reboot:
HAProxy binds a VIP that the node does not hold (yet)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jinja2

from lbdeploy.components.base import Component, Context, render
from lbdeploy.core.desired import NONLOCAL_BIND, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, Phase
from lbdeploy.core.parsers import parse_key_values
from lbdeploy.core.steps import Change, Step, upload_if_differs
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd, sh

SYSCTL_CONF = "/etc/sysctl.d/60-lbdeploy.conf"
SECTION = "sysctl"
STEP = "sysctl"


def live(facts: Facts) -> dict[str, str]:
    """The running values of the nonlocal_bind switches."""
    return parse_key_values(facts.sections.get(SECTION, []))


class Sysctl(Component):
    name = "sysctl"

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (SYSCTL_CONF,)

    def fact_lines(self, pair: PairState) -> Script:
        # /proc/sys read by the shell itself: no sysctl process per key.
        script = Script().section(SECTION)
        for key in NONLOCAL_BIND:
            script.probe(
                cmd(
                    'lbv=; { read -r lbv < {proc}; } 2>/dev/null || :; echo {key}"=$lbv"',
                    proc="/proc/sys/" + key.replace(".", "/"),
                    key=key,
                )
            )
        return script

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        content = render(templates, ctx, "sysctl.conf.j2")
        return [ManagedFile(SYSCTL_CONF, content, 0o644, phase=Phase.PREPARE, step=STEP)]

    def steps(self, ctx: Context, files: Mapping[str, ManagedFile]) -> list[Step]:
        return [NonlocalBind(files[SYSCTL_CONF], ctx.pair.sysctls)]


@dataclass(frozen=True)
class NonlocalBind:
    """The backup must bind the VIP before it owns it."""

    conf: ManagedFile
    keys: tuple[str, ...]  # the sysctls the file sets to 1
    name: str = STEP

    def plan(self, facts: Facts) -> Change | None:
        upload = upload_if_differs(self.conf, facts)
        values = live(facts)
        if upload is None and all(values.get(key) == "1" for key in self.keys):
            return None
        return Change(
            step=self.name,
            why="allow binding the VIP on a node that does not hold it",
            phase=self.conf.phase,
            uploads=(upload,) if upload else (),
            commands=(sh("sysctl", "-q", "-p", self.conf.path),),
        )
