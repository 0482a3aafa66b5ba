"""What a run did, per node, as a table for people or JSON for scripts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lbdeploy.desired import NodeState
from lbdeploy.health import NodeStatus
from lbdeploy.inventory import Inventory
from lbdeploy.ssh import Counters

Status = Literal["ok", "changed", "failed", "skipped", "would change"]


@dataclass
class StepResult:
    step: str
    status: Status
    detail: str = ""
    seconds: float = 0.0


@dataclass
class NodeReport:
    node: str
    steps: list[StepResult] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    diffs: dict[str, str] = field(default_factory=dict)  # path -> unified diff, secrets masked
    error: str | None = None
    counters: Counters = field(default_factory=Counters)

    @property
    def changed(self) -> int:
        return sum(s.status in ("changed", "would change") for s in self.steps)

    @property
    def failed(self) -> bool:
        return self.error is not None or any(s.status == "failed" for s in self.steps)

    @property
    def result(self) -> str:
        """failed, skipped (stopped because another node failed) or ok."""
        if self.failed:
            return "failed"
        return "skipped" if any(s.status == "skipped" for s in self.steps) else "ok"


@dataclass
class Report:
    command: str
    nodes: dict[str, NodeReport]
    seconds: float = 0.0
    converged_after: float | None = None  # seconds from start until the pair served
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(n.failed for n in self.nodes.values())

    def to_json(self) -> dict[str, object]:
        return {
            "command": self.command,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "converged_after": self.converged_after,
            "notes": self.notes,
            "nodes": {
                name: {
                    "ok": not n.failed,
                    "result": n.result,
                    "changed": n.changed,
                    "error": n.error,
                    "drift": n.drift,
                    "diffs": n.diffs,
                    "steps": [asdict(s) for s in n.steps],
                    "stats": asdict(n.counters),
                }
                for name, n in self.nodes.items()
            },
        }


_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "would change": "yellow",
    "failed": "bold red",
    "skipped": "dim",
}


def print_step(console: Console, node: str, result: StepResult) -> None:
    style = _STYLE[result.status]
    detail = f"  {escape(result.detail)}" if result.detail else ""
    console.print(f"{node:<12} {result.step:<10} [{style}]{result.status}[/]{detail}")


def print_recap(console: Console, report: Report, stats: bool) -> None:
    table = Table(title=f"lbdeploy {report.command}: recap", title_justify="left")
    for column in ("node", "result", "changed", "drift"):
        table.add_column(column)
    if stats:
        for column in ("connections", "round trips", "ssh seconds"):
            table.add_column(column, justify="right")
    for name, node in report.nodes.items():
        result = {"failed": "[bold red]failed[/]", "skipped": "[yellow]skipped[/]"}.get(
            node.result, "[green]ok[/]"
        )
        row = [name, result, str(node.changed), ", ".join(node.drift) or "-"]
        if stats:
            c = node.counters
            row += [str(c.connections), str(c.round_trips), f"{c.seconds:.2f}"]
        table.add_row(*row)
    console.print(table)
    for name, node in report.nodes.items():
        if node.error:
            console.print(f"[bold red]{name}:[/] {escape(node.error)}", highlight=False)
    for note in report.notes:
        console.print(note, markup=False, highlight=False)
    console.print(f"took {report.seconds:.1f} s", highlight=False)


def summary_table(inventory: Inventory, states: list[NodeState]) -> Table:
    table = Table(title="lbdeploy: what each node will get", title_justify="left")
    table.add_column("node")
    table.add_column("ssh")
    table.add_column(f"{inventory.interface.name} address")
    for inst in inventory.vrrp:
        table.add_column(f"VIP {inst.vip} (vrid {inst.virtual_router_id})")
    for state in states:
        ssh = state.ssh
        sudo = " (sudo)" if ssh.needs_sudo else ""
        table.add_row(
            state.name,
            f"{ssh.user}@{ssh.host}:{ssh.port}{sudo}",
            f"{state.address}/{state.network.prefixlen}",
            *(
                f"{r.state} prio {r.priority}" + (" nopreempt" if r.nopreempt else "")
                for r in state.vrrp
            ),
        )
    return table


def services_table(inventory: Inventory) -> Table:
    table = Table(title="services", title_justify="left")
    for column in ("name", "listens on", "mode", "balance", "servers"):
        table.add_column(column)
    default_vip = inventory.vrrp[0].vip
    for svc in inventory.services:
        servers = ", ".join(f"{s.name}={s.address}:{s.port}" for s in svc.servers)
        table.add_row(
            svc.name, f"{svc.vip or default_vip}:{svc.port}", svc.mode, svc.balance, servers
        )
    if inventory.stats:
        st = inventory.stats
        table.add_row(
            "stats",
            f"<node address>:{st.port}{st.uri}",
            "http",
            "-",
            f"auth {st.user}:{st.password}",
        )
    return table


def status_table(statuses: list[NodeStatus]) -> Table:
    table = Table(title="lbdeploy status", title_justify="left")
    for column in ("node", "keepalived", "holds", "haproxy", "servers", "standby", "drift"):
        table.add_column(column, overflow="fold")
    for status in statuses:
        if status.error:
            table.add_row(status.node, f"[red]{escape(status.error)}[/]", "", "", "", "", "")
            continue
        vrrp = ", ".join(f"{k} {v}" for k, v in status.vrrp.items()) or status.keepalived
        servers = ", ".join(f"{svc}/{srv} {st}" for svc, srv, st in status.servers) or "-"
        table.add_row(
            status.node,
            vrrp,
            ", ".join(status.holds) or "-",
            f"{status.haproxy} {status.haproxy_version}".strip(),
            servers,
            "yes" if status.standby else "no",
            ", ".join(status.drift) or "-",
        )
    return table


def status_json(statuses: list[NodeStatus]) -> list[dict[str, object]]:
    return [asdict(s) for s in statuses]
