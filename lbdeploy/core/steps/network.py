"""The public interface's static address, through the node's own stack, brought up when needed.

ifupdown: a stanza in interfaces.d (and a `source` line if the main file lacks one),
`ifup` only when the address is missing. netplan: a file in /etc/netplan, checked with
`netplan generate`, applied to this interface alone (`networkctl reload` and
`networkctl reconfigure IFACE`): `netplan apply` would reconfigure every interface,
the one the SSH session runs over included, and it needs udev, which containers lack.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.core.addresses import needle
from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.paths import INTERFACES
from lbdeploy.core.platforms import Stack
from lbdeploy.core.steps.base import Change, Upload, upload_if_differs
from lbdeploy.scripts.shell import Command, cmd, join, wrap

NETWORKD_WAIT_TRIES = 100  # x 0.1 s for networkd to put the address on


@dataclass(frozen=True)
class PublicInterface:
    pair: PairState
    node: NodeState
    file: ManagedFile | None  # None: the inventory says the interface is not ours
    stack: Stack
    name: str = "network"

    def plan(self, facts: Facts) -> Change | None:
        if self.file is None:
            return None
        upload = upload_if_differs(self.file, facts)
        iface = self.pair.interface.name
        missing = not facts.holds(iface, *self.node.addresses)
        if self.stack == "netplan":
            before, commands, why = self._netplan(upload, missing)
        else:
            before, commands, why = self._ifupdown(facts, upload, missing)
        if upload is None and not before and not commands:
            return None
        if upload is not None:
            iface = self.pair.interface.name
            what = self.file.path if self.stack == "netplan" else f"the {iface} stanza"
            why.insert(0, f"write {what}")
        return Change(
            step=self.name,
            why="; ".join(why),
            phase=self.file.phase,
            commands_before=tuple(before),
            uploads=(upload,) if upload else (),
            commands=tuple(commands),
        )

    def _has_addresses(self) -> Command:
        """True when the interface carries every address of the node (either family)."""
        iface = self.pair.interface.name
        return join(
            cmd("ip -o addr show dev {iface} | grep -qF {needle}", iface=iface, needle=needle(a))
            for a in self.node.addresses
        )

    def _addresses_text(self) -> str:
        return " and ".join(map(str, self.node.addresses))

    def _ifupdown(
        self, facts: Facts, upload: Upload | None, missing: bool
    ) -> tuple[list[Command], list[Command], list[str]]:
        iface = self.pair.interface.name
        before, commands, why = [], [], []
        if not facts.sources_interfaces_d:
            # Debian's default file sources interfaces.d; an old or edited one may not.
            before.append(
                cmd(
                    "printf '%s\\n' {line} >> {file}",
                    line="source /etc/network/interfaces.d/*",
                    file=INTERFACES,
                )
            )
            why.append(f"make {INTERFACES} source interfaces.d")
        if missing:
            # ifup stops at its first failure ("Address already assigned" when Docker or
            # an earlier boot put the IPv4 address there, before it reaches the inet6
            # stanza) and does nothing when it believes the interface is up: judge by the
            # interface, and put on what the stanza says and ifup did not.
            commands.append(cmd("ifup {iface} || true", iface=iface))
            commands += [
                cmd(
                    "ip -o addr show dev {iface} | grep -qF {needle}"
                    " || ip addr add {cidr} dev {iface}",
                    iface=iface,
                    needle=needle(a.ip),
                    cidr=str(a),
                )
                for a in self.pair.interfaces(self.node)
            ]
            why.append(f"bring up {iface} with {self._addresses_text()}")
        return before, commands, why

    def _netplan(
        self, upload: Upload | None, missing: bool
    ) -> tuple[list[Command], list[Command], list[str]]:
        iface = self.pair.interface.name
        if upload is None and not missing:
            return [], [], []
        apply = (
            cmd(
                "netplan generate && networkctl reload && networkctl reconfigure {iface}"
                " && i=0 && until ",
                iface=iface,
            )
            + wrap(self._has_addresses())
            + cmd(
                "; do i=$((i+1)); [ $i -lt {tries} ] || exit 1; sleep 0.1; done",
                tries=NETWORKD_WAIT_TRIES,
            )
        )
        return [], [apply], [f"apply it to {iface} alone (networkctl reconfigure {iface})"]
