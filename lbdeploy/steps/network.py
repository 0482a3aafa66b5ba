"""The public interface's static stanza, brought up only when its address is missing."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.desired import NodeState
from lbdeploy.facts import Facts
from lbdeploy.render import FileSpec
from lbdeploy.shell import Raw, sh
from lbdeploy.steps.base import Change, upload_if_differs

INTERFACES = "/etc/network/interfaces"


@dataclass(frozen=True)
class PublicInterface:
    state: NodeState
    stanza: FileSpec
    name: str = "network"

    def plan(self, facts: Facts) -> Change | None:
        iface = self.state.interface.name
        upload = upload_if_differs(self.stanza, facts)
        has_address = facts.holds(iface, self.state.address)
        before = []
        if not facts.sources_interfaces_d:
            # Debian's default file sources interfaces.d; an old or edited one may not.
            before.append(
                sh("printf", "%s\\n", "source /etc/network/interfaces.d/*", Raw(">>"), INTERFACES)
            )
        commands = []
        if not has_address:
            # ifup fails with "Address already assigned" when Docker or an earlier boot
            # put the address there: judge by the interface, not by ifup's exit code.
            commands.append(
                sh(
                    "ifup",
                    iface,
                    Raw("||"),
                    "ip",
                    "-4",
                    "-o",
                    "addr",
                    "show",
                    "dev",
                    iface,
                    Raw("|"),
                    "grep",
                    "-qF",
                    f" inet {self.state.address}/",
                )
            )
        if upload is None and not before and not commands:
            return None
        why = []
        if upload is not None:
            why.append(f"write the {iface} stanza")
        if before:
            why.append(f"make {INTERFACES} source interfaces.d")
        if commands:
            why.append(f"bring up {iface} with {self.state.address}")
        return Change(
            step=self.name,
            why="; ".join(why),
            commands_before=tuple(before),
            uploads=(upload,) if upload else (),
            commands=tuple(commands),
        )
