"""Old Ubuntu (upstart) sleeps up to two minutes at boot waiting for the network: those
`sleep`s in /etc/init/failsafe.conf are commented out where the file exists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lbdeploy.components.base import Component, Context
from lbdeploy.core.desired import PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.parsers import parse_int
from lbdeploy.core.steps import Change, Step
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd, sh

FAILSAFE = "/etc/init/failsafe.conf"
SECTION = "failsafe"


def sleeps(facts: Facts) -> int | None:
    """Active boot sleeps in the file; None when the file does not exist."""
    lines = facts.sections.get(SECTION, ["absent"])
    return None if lines == ["absent"] else parse_int(lines)


class Failsafe(Component):
    name = "failsafe"

    def fact_lines(self, pair: PairState) -> Script:
        return (
            Script()
            .section(SECTION)
            .probe(
                cmd(
                    "if [ -f {f} ]; then grep -cE '^[[:space:]]*sleep([[:space:]]|$)' {f};"
                    " else echo absent; fi",
                    f=FAILSAFE,
                )
            )
        )

    def steps(self, ctx: Context, files: Mapping[str, ManagedFile]) -> list[Step]:
        return [CommentOutSleeps()]


@dataclass(frozen=True)
class CommentOutSleeps:
    name: str = "failsafe"

    def plan(self, facts: Facts) -> Change | None:
        found = sleeps(facts)
        if not found:  # absent (None) or already commented out (0)
            return None
        return Change(
            step=self.name,
            why=f"comment out {found} boot sleep(s) in {FAILSAFE}",
            commands=(
                sh(
                    "sed",
                    "-i.lbdeploy-bak",
                    "-E",
                    r"s/^([[:space:]]*)(sleep([[:space:]]|$))/\1# \2/",
                    FAILSAFE,
                ),
            ),
        )
