"""ip_nonlocal_bind for each VIP family (net.ipv4, net.ipv6), now and after a reboot."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.steps.base import Change, upload_if_differs
from lbdeploy.scripts.shell import sh


@dataclass(frozen=True)
class NonlocalBind:
    """The backup must bind the VIP before it owns it."""

    conf: ManagedFile
    keys: tuple[str, ...]  # the sysctls the file sets to 1
    name: str = "sysctl"

    def plan(self, facts: Facts) -> Change | None:
        upload = upload_if_differs(self.conf, facts)
        live = all(facts.sysctl.get(key) == "1" for key in self.keys)
        if upload is None and live:
            return None
        return Change(
            step=self.name,
            why="allow binding the VIP on a node that does not hold it",
            phase=self.conf.phase,
            uploads=(upload,) if upload else (),
            commands=(sh("sysctl", "-q", "-p", self.conf.path),),
        )
