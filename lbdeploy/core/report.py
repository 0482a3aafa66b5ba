"""What a run did, per node: the data, and its JSON for scripts (display.py shows it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

# "running" is shown while a step runs (a live line on a terminal), never recorded.
Status = Literal["ok", "changed", "failed", "skipped", "would change", "running"]


@dataclass
class Counters:
    """What one node cost: shown by --stats and measured by the benchmark."""

    connections: int = 0
    round_trips: int = 0
    seconds: float = 0.0
    bytes_sent: int = 0


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
    servers: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> server -> state
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
            "servers": self.servers,
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
