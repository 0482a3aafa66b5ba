"""What a run did, per node, as a table for people or JSON for scripts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
        result = "[bold red]failed[/]" if node.failed else "[green]ok[/]"
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
