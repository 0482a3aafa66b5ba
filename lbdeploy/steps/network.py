"""The public interface's static stanza, brought up only when its address is missing."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.desired import NodeState, PairState
from lbdeploy.facts import Facts
from lbdeploy.files import ManagedFile
from lbdeploy.paths import INTERFACES
from lbdeploy.shell import cmd
from lbdeploy.steps.base import Change, upload_if_differs


@dataclass(frozen=True)
class PublicInterface:
    pair: PairState
    node: NodeState
    stanza: ManagedFile
    name: str = "network"

    def plan(self, facts: Facts) -> Change | None:
        iface = self.pair.interface.name
        address = self.node.address
        upload = upload_if_differs(self.stanza, facts)
        before = []
        if not facts.sources_interfaces_d:
            # Debian's default file sources interfaces.d; an old or edited one may not.
            before.append(
                cmd(
                    "printf '%s\\n' {line} >> {file}",
                    line="source /etc/network/interfaces.d/*",
                    file=INTERFACES,
                )
            )
        commands = []
        if not facts.holds(iface, address):
            # ifup fails with "Address already assigned" when Docker or an earlier boot
            # put the address there: judge by the interface, not by ifup's exit code.
            commands.append(
                cmd(
                    "ifup {iface} || ip -4 -o addr show dev {iface} | grep -qF {needle}",
                    iface=iface,
                    needle=f" inet {address}/",
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
            why.append(f"bring up {iface} with {address}")
        return Change(
            step=self.name,
            why="; ".join(why),
            phase=self.stanza.phase,
            commands_before=tuple(before),
            uploads=(upload,) if upload else (),
            commands=tuple(commands),
        )
