"""The public interface's static address, through the node's own stack, brought up when needed.

ifupdown: a stanza in interfaces.d (and a `source` line if the main file lacks one),
`ifup` only when the address is missing. netplan: a file in /etc/netplan, checked with
`netplan generate`, applied to this interface alone (`networkctl reload` and
`networkctl reconfigure IFACE`): `netplan apply` would reconfigure every interface,
the one the SSH session runs over included, and it needs udev, which containers lack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jinja2

from lbdeploy.addresses import needle
from lbdeploy.components.base import Component, Context, render
from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, Phase, Validator
from lbdeploy.core.platforms import Stack
from lbdeploy.core.steps import Change, Step, Upload, upload_if_differs
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Command, cmd, join, wrap

INTERFACES = "/etc/network/interfaces"
SECTION = "interfaces"
STEP = "network"
NETWORKD_WAIT_TRIES = 100  # x 0.1 s for networkd to put the address on


def interface_stanza(interface: str) -> str:
    return f"/etc/network/interfaces.d/lbdeploy-{interface}"


def netplan_file(interface: str) -> str:
    return f"/etc/netplan/60-lbdeploy-{interface}.yaml"


# `netplan generate` on a copy of /etc/netplan with the staged file in place: the whole
# set must still parse ($1: the staged file, $2: where it goes).
NETPLAN_CHECK = Validator(
    (
        "sh",
        "-c",
        'd=$(mktemp -d) && trap \'rm -rf "$d"\' EXIT && mkdir -p "$d/etc/netplan"'
        ' && for f in /etc/netplan/*.yaml; do if [ -f "$f" ] && [ "$f" != "$2" ];'
        ' then cp -p "$f" "$d/etc/netplan/"; fi; done'
        ' && cp "$1" "$d/etc/netplan/${2##*/}" && netplan generate --root-dir "$d"',
        "netplan-check",
    ),
    with_target=True,
)


def sources_interfaces_d(facts: Facts) -> bool:
    """Whether /etc/network/interfaces reads interfaces.d (Debian's default file does)."""
    return any("interfaces.d" in line for line in facts.sections.get(SECTION, []))


class Network(Component):
    name = "network"

    def paths(self, pair: PairState) -> tuple[str, ...]:
        iface = pair.interface.name
        return (interface_stanza(iface), netplan_file(iface)) if pair.interface.manage else ()

    def fact_lines(self, pair: PairState) -> Script:
        return (
            Script()
            .section(SECTION)
            .probe(
                cmd(
                    "grep -E '^[[:space:]]*source(-directory)?[[:space:]]' {f} 2>/dev/null",
                    f=INTERFACES,
                )
            )
        )

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        if not ctx.pair.interface.manage:
            return []
        iface = ctx.pair.interface.name
        if ctx.platform.stack == "netplan":
            content = render(templates, ctx, "netplan.yaml.j2")
            return [
                ManagedFile(
                    netplan_file(iface),
                    content,
                    0o600,
                    validate=NETPLAN_CHECK,
                    phase=Phase.PREPARE,
                    step=STEP,
                )
            ]
        content = render(templates, ctx, "interface.j2")
        return [
            ManagedFile(interface_stanza(iface), content, 0o644, phase=Phase.PREPARE, step=STEP)
        ]

    def steps(self, ctx: Context, files: Mapping[str, ManagedFile]) -> list[Step]:
        mine = next((f for f in files.values() if f.step == STEP), None)
        return [PublicInterface(ctx.pair, ctx.node, mine, ctx.platform.stack)]


@dataclass(frozen=True)
class PublicInterface:
    pair: PairState
    node: NodeState
    file: ManagedFile | None  # None: the inventory says the interface is not ours
    stack: Stack
    name: str = STEP

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
        if not sources_interfaces_d(facts):
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
