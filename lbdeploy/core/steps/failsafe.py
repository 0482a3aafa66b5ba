"""Old Ubuntu (upstart) sleeps up to two minutes at boot waiting for the network."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.core.facts import Facts
from lbdeploy.core.paths import FAILSAFE
from lbdeploy.core.steps.base import Change
from lbdeploy.scripts.shell import sh


@dataclass(frozen=True)
class Failsafe:
    name: str = "failsafe"

    def plan(self, facts: Facts) -> Change | None:
        if not facts.failsafe_sleeps:  # absent (None) or already commented out (0)
            return None
        return Change(
            step=self.name,
            why=f"comment out {facts.failsafe_sleeps} boot sleep(s) in {FAILSAFE}",
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
