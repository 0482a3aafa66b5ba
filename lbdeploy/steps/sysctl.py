"""net.ipv4.ip_nonlocal_bind=1, now and after a reboot."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.facts import Facts
from lbdeploy.files import ManagedFile
from lbdeploy.shell import sh
from lbdeploy.steps.base import Change, upload_if_differs


@dataclass(frozen=True)
class NonlocalBind:
    """The backup must bind the VIP before it owns it."""

    conf: ManagedFile
    name: str = "sysctl"

    def plan(self, facts: Facts) -> Change | None:
        upload = upload_if_differs(self.conf, facts)
        live = facts.sysctl.get("net.ipv4.ip_nonlocal_bind") == "1"
        if upload is None and live:
            return None
        return Change(
            step=self.name,
            why="allow binding the VIP on a node that does not hold it",
            phase=self.conf.phase,
            uploads=(upload,) if upload else (),
            commands=(sh("sysctl", "-q", "-p", self.conf.path),),
        )
