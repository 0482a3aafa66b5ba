"""`python -m bench`: lbdeploy, Ansible and pyinfra on the same Docker lab, in one run.

Scenarios: cli (`lbdeploy --help`/`--version`), cold (fresh nodes, each tool on its own
reset lab), noop (re-run, nothing to do), change (one backend's weight edited), scale
(lbdeploy's no-op on 20 nodes, and under it the floor: plain OpenSSH and sudo on every
node at once, on 2 and on 20 nodes). Prints the table and the targets; writes JSON.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench import labnodes
from bench.table import Row, render_table, row_of, verdicts
from bench.tools import TOOLS, Sample, ansible_playbook, run_tool, timed
from bench.workspace import ROOT, Workspace, lbdeploy_command
from lab import lab as labmod

SCENARIOS = ("cli", "cold", "noop", "change", "scale")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="runs of noop, change, scale")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold runs per tool")
    parser.add_argument("--scale-nodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--workdir", type=Path, default=labmod.STATE_DIR / "bench")
    parser.add_argument(
        "--lab",
        choices=("start", "running"),
        default="start",
        help="start: take the lab lock, start the lab, stop it at the end; running: use the"
        " lab a caller started and whose lock it holds (the lab test)",
    )
    args = parser.parse_args(argv)
    args.tools = [t for t in args.tools.split(",") if t]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.tools) - set(TOOLS) | set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown tools or scenarios: {', '.join(sorted(unknown))}")
    return args


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def cli_rows(runs: int) -> list[Row]:
    """`lbdeploy --help` and `--version`: wall time of the whole process."""
    rows = []
    for flag in ("--version", "--help"):
        timed(lbdeploy_command(flag))  # bytecode written once, not timed
        seconds = [timed(lbdeploy_command(flag)).seconds for _ in range(runs)]
        rows.append(Row("lbdeploy", f"cli {flag}", 0, [round(s, 3) for s in seconds]))
    return rows


def measure(tool: str, ws: Workspace, runs: int, scenario: str, rows: list[Row]) -> bool:
    """Run `tool` `runs` times; one row; False if a run failed (the tool stops there)."""
    samples: list[Sample] = []
    for index in range(runs):
        if scenario == "change":
            ws.weight = 11 + index % 2  # differs from the run before, every time
            ws.write()
        samples.append(run_tool(tool, ws))
        if not samples[-1].ok:
            say(f"{tool} {scenario} failed:\n{samples[-1].error}")
            break
    rows.append(row_of(tool, scenario, len(ws.nodes), samples))
    say(render_table(rows[-1:]).splitlines()[-1])
    return all(s.ok for s in samples)


def run_cold(lab: labmod.Lab, ws: Workspace, args: argparse.Namespace, rows: list[Row]) -> None:
    """Each round resets the pair before each tool's converge; rounds interleave the tools,
    so a mirror that slows down or speeds up mid-bench weighs on every tool alike. A tool
    that fails sits out the rounds after."""
    samples: dict[str, list[Sample]] = {tool: [] for tool in args.tools}
    for _ in range(args.cold_runs):
        for tool in args.tools:
            if samples[tool] and not samples[tool][-1].ok:
                continue
            labmod.reset_nodes(lab)  # pristine nodes, new host keys
            ws.forget_connections()
            samples[tool].append(run_tool(tool, ws))
            if not samples[tool][-1].ok:
                say(f"{tool} cold failed:\n{samples[tool][-1].error}")
    for tool in args.tools:
        rows.append(row_of(tool, "cold", len(ws.nodes), samples[tool]))
        say(render_table(rows[-1:]).splitlines()[-1])


def run_tool_scenarios(tool: str, ws: Workspace, args: argparse.Namespace, rows: list[Row]) -> None:
    """noop and change, after an untimed converge (the pair is another tool's until then);
    a failure ends this tool's turn."""
    wanted = [s for s in ("noop", "change") if s in args.scenarios]
    if not wanted:
        return
    warm = run_tool(tool, ws)  # converge first, not timed
    if not warm.ok:
        say(f"{tool} could not converge the lab:\n{warm.error}")
        return
    for scenario in wanted:
        if not measure(tool, ws, args.runs, scenario, rows):
            return
    ws.weight = None
    ws.write()


def run_scale(lab: labmod.Lab, args: argparse.Namespace, rows: list[Row]) -> None:
    extra = labnodes.extra_nodes(args.scale_nodes - len(labmod.NODES))
    say(f"starting {len(extra)} extra nodes")
    labnodes.start_extra(lab, extra)
    ws = Workspace(lab, args.workdir / f"scale{args.scale_nodes}", (*labmod.NODES, *extra))
    ws.write()
    if measure("lbdeploy", ws, 1, "cold", rows):
        measure("lbdeploy", ws, args.runs, "noop", rows)
        measure("openssh", ws, args.runs, "floor", rows)


def run_lab(lab: labmod.Lab, args: argparse.Namespace, rows: list[Row]) -> None:
    pair = Workspace(lab, args.workdir / "pair", labmod.NODES)
    pair.write()
    if "cold" in args.scenarios:
        run_cold(lab, pair, args, rows)
    for tool in args.tools:
        run_tool_scenarios(tool, pair, args, rows)
    if "scale" in args.scenarios and "lbdeploy" in args.tools:
        measure("openssh", pair, args.runs, "floor", rows)  # the lab's own, on 2 nodes
        try:
            run_scale(lab, args, rows)
        finally:
            labnodes.remove_extra()


def check_lock_held() -> None:
    """--lab running: refuse unless another process holds the lab lock (so owns the lab)."""
    labmod.LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with labmod.LOCK_FILE.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        fcntl.flock(handle, fcntl.LOCK_UN)
    raise SystemExit(f"bench: --lab running, but nobody holds {labmod.LOCK_FILE}")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("lbdeploy", "ansible-core", "pyinfra", "paramiko"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    found["ansible-playbook"] = shutil.which(ansible_playbook()) or "missing"
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    start = time.monotonic()
    rows: list[Row] = []
    if "cli" in args.scenarios and "lbdeploy" in args.tools:
        rows += cli_rows(max(args.runs, 10))
    if set(args.scenarios) - {"cli"}:
        if args.lab == "running":
            check_lock_held()
            run_lab(labmod.Lab(labmod.STATE_DIR, labmod.build_image()), args, rows)
        else:
            with labmod.exclusive():
                lab = labmod.up()
                try:
                    labnodes.remove_extra()
                    run_lab(lab, args, rows)
                finally:
                    labnodes.remove_extra()
                    labmod.down(lab)
    judged = verdicts(rows)
    print(render_table(rows))
    print()
    for verdict in judged:
        print(verdict.line())
    took = time.monotonic() - start
    print(f"\nbench took {took:.0f} s; JSON: {args.out}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "seconds": round(took, 1),
                "settings": {k: str(v) for k, v in vars(args).items()},
                "versions": versions(),
                "rows": [r.to_json() for r in rows],
                "targets": [
                    {
                        "target": v.target,
                        "limit": v.limit,
                        "measured": v.measured,
                        "met": v.met if v.limit is not None else None,
                    }
                    for v in judged
                ],
            },
            indent=1,
        )
        + "\n"
    )
    return 1 if any(r.errors for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
