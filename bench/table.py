"""The bench's results: one row per tool and scenario, the ratios the targets name, and
their JSON."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from bench.tools import Sample


@dataclass
class Row:
    tool: str
    scenario: str
    nodes: int
    seconds: list[float]
    connections: int | None = None  # per node, the most any node saw in any run
    round_trips: int | None = None
    changes: list[int] | None = None  # every node's changes added up, per run
    apt_seconds: float | None = None  # the package step, median over runs
    errors: list[str] | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.update(
            runs=len(self.seconds),
            min=min(self.seconds),
            median=self.median,
            max=max(self.seconds),
        )
        return data


def row_of(tool: str, scenario: str, nodes: int, samples: list[Sample]) -> Row:
    apt = [s.apt_seconds for s in samples if s.apt_seconds is not None]
    errors = [s.error for s in samples if not s.ok]
    return Row(
        tool,
        scenario,
        nodes,
        [round(s.seconds, 3) for s in samples],
        connections=max((max(s.connections.values(), default=0) for s in samples), default=0),
        round_trips=max((max(s.round_trips.values(), default=0) for s in samples), default=0),
        changes=[s.changes for s in samples],
        apt_seconds=round(statistics.median(apt), 2) if apt else None,
        errors=errors or None,
    )


def _fmt(row: Row) -> list[str]:
    def opt(value: object) -> str:
        return "-" if value is None else str(value)

    changes = "-" if row.changes is None else "/".join(str(c) for c in sorted(set(row.changes)))
    apt = f"{row.apt_seconds:.1f} ({row.apt_seconds / row.median:.0%})" if row.apt_seconds else "-"
    return [
        row.tool,
        row.scenario,
        str(row.nodes),
        str(len(row.seconds)),
        f"{min(row.seconds):.2f}",
        f"{row.median:.2f}",
        f"{max(row.seconds):.2f}",
        opt(row.connections),
        opt(row.round_trips),
        changes,
        apt,
        "FAILED" if row.errors else "",
    ]


HEADER = [
    "tool",
    "scenario",
    "nodes",
    "runs",
    "min s",
    "median s",
    "max s",
    "conn/node",
    "round trips/node",
    "changes",
    "apt s (share)",
    "",
]


def render_table(rows: list[Row]) -> str:
    cells = [HEADER, *(_fmt(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


# (scenario, peer, the most lbdeploy's median may be as a share of the peer's)
TARGETS = (
    ("noop", "ansible", 1 / 10),
    ("noop", "pyinfra", 1 / 3),
    ("change", "ansible", 1 / 8),
    ("change", "pyinfra", 1 / 3),
    ("cold", "ansible", 1 / 2),
    ("cold", "pyinfra", 0.8),
)


@dataclass(frozen=True)
class Verdict:
    target: str
    limit: float | None  # None: a figure for reference, no target
    measured: float

    @property
    def met(self) -> bool:
        return self.limit is None or self.measured <= self.limit

    def line(self) -> str:
        if self.limit is None:
            return f"{self.target}: {self.measured:.3f} (for reference)"
        mark = "met" if self.met else "NOT MET"
        return f"{self.target}: {self.measured:.3f} (target <= {self.limit:.3f}) {mark}"


def verdicts(rows: list[Row]) -> list[Verdict]:
    """Each target the rows can judge: ratios of medians from this same run."""
    found = {(r.tool, r.scenario, r.nodes): r for r in rows if not r.errors}
    out = []
    for scenario, peer, limit in TARGETS:
        ours, theirs = found.get(("lbdeploy", scenario, 2)), found.get((peer, scenario, 2))
        if ours and theirs:
            name = f"{scenario}: lbdeploy / {peer}"
            out.append(Verdict(name, limit, ours.median / theirs.median))
    ours = found.get(("lbdeploy", "cold", 2))
    for peer in ("ansible", "pyinfra"):
        theirs = found.get((peer, "cold", 2))
        if ours and theirs and ours.apt_seconds and theirs.apt_seconds:
            # apt's share moves with the mirror's speed; the rest is the tools' own.
            name = f"cold without apt (median s - apt s): lbdeploy / {peer}"
            mine, its = ours.median - ours.apt_seconds, theirs.median - theirs.apt_seconds
            out.append(Verdict(name, None, mine / its))
    small = found.get(("lbdeploy", "noop", 2))
    for row in found.values():
        if small and row.tool == "lbdeploy" and row.scenario == "noop" and row.nodes > 2:
            name = f"scale: lbdeploy no-op {row.nodes} nodes / 2 nodes"
            out.append(Verdict(name, 1.5, row.median / small.median))
    floor = found.get(("openssh", "floor", 2))
    for row in found.values():
        if floor and row.tool == "openssh" and row.nodes > 2:
            # What the lab itself allows: no tool that logs in to every node does better.
            name = f"scale floor: OpenSSH + sudo {row.nodes} nodes / 2 nodes"
            out.append(Verdict(name, None, row.median / floor.median))
    for row in found.values():
        if row.scenario.startswith("cli "):
            out.append(Verdict(f"{row.scenario} wall s (median)", 0.25, row.median))
    noop = found.get(("lbdeploy", "noop", 2))
    if noop and noop.connections is not None and noop.round_trips is not None:
        out.append(Verdict("noop: lbdeploy SSH connections per node", 1, noop.connections))
        out.append(Verdict("noop: lbdeploy round trips per node", 2, noop.round_trips))
    return out
