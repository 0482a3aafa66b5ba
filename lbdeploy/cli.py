"""The `lbdeploy` command: parse, call one function, map errors to exit codes.

Only this module prints errors: a known LbdeployError as its message and exit code,
anything else as a short notice (the traceback only under --debug).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from lbdeploy import operate
from lbdeploy.desired import NodeState, derive_states
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.execute import converge
from lbdeploy.exitcodes import ExitCode
from lbdeploy.health import NodeStatus
from lbdeploy.inventory import Inventory, load_inventory
from lbdeploy.render import render_node
from lbdeploy.report import (
    Report,
    StepResult,
    print_recap,
    print_step,
    services_table,
    status_json,
    status_table,
    summary_table,
)
from lbdeploy.runs import Emit
from lbdeploy.shell import Secret

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn bare Debian/Ubuntu nodes into an HAProxy + Keepalived HA pair, over SSH.",
)

T = TypeVar("T")

InventoryArg = Annotated[
    Path,
    typer.Argument(help="inventory file", show_default=True),
]


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
) -> None:
    ctx.obj = {"debug": debug}


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _guard(ctx: typer.Context, action: Callable[[], T]) -> T:
    """Run a command body; turn errors into one message on stderr and an exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return action()
    except LbdeployError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if (ctx.obj or {}).get("debug"):
            traceback.print_exc()
        else:
            err.print(
                f"internal error: {type(exc).__name__}: {exc} "
                "(this is a bug in lbdeploy; run with --debug for the traceback)",
                markup=False,
            )
        raise typer.Exit(int(ExitCode.INTERNAL)) from None


def _load(path: Path) -> tuple[Inventory, list[NodeState]]:
    inventory = load_inventory(path, os.environ)
    return inventory, derive_states(inventory, path.resolve().parent)


@app.command()
def validate(ctx: typer.Context, inventory: InventoryArg = Path("inventory.yaml")) -> None:
    """Check the inventory and show what each node will get (secrets masked)."""

    def run() -> None:
        inv, states = _load(inventory)
        out = Console(highlight=False)
        out.print(summary_table(inv, states))
        out.print(services_table(inv))
        out.print(f"{inventory}: valid, {len(states)} nodes, {len(inv.vrrp)} VIPs")

    _guard(ctx, run)


@app.command()
def render(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    out: Annotated[Path, typer.Option("--out", help="directory to write DIR/<node>/<path>")] = Path(
        "rendered"
    ),
) -> None:
    """Write every node's config files under DIR/<node>/, with their final modes."""

    def run() -> None:
        _, states = _load(inventory)
        written = 0
        for state in states:
            for spec in render_node(state).values():
                target = out / state.name / spec.path.lstrip("/")
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, spec.mode)
                with os.fdopen(fd, "w") as handle:
                    handle.write(spec.content)
                os.chmod(target, spec.mode)
                written += 1
        Console(highlight=False).print(
            f"wrote {written} files for {len(states)} nodes under {out}/"
        )

    _guard(ctx, run)


@app.command()
def schema() -> None:
    """Print the inventory's JSON Schema (for editors)."""
    _print_json(Inventory.model_json_schema())


NodeOpt = Annotated[list[str] | None, typer.Option("--node", help="only this node (repeatable)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON")]
StatsOpt = Annotated[bool, typer.Option("--stats", help="show SSH connections and round trips")]
BecomeOpt = Annotated[
    bool, typer.Option("--ask-become-pass", "-K", help="ask once for the sudo password")
]


def _select(states: list[NodeState], nodes: list[str] | None) -> list[NodeState]:
    if not nodes:
        return states
    known = {s.name for s in states}
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise UsageError(f"no node named {', '.join(unknown)} (nodes: {', '.join(sorted(known))})")
    return [s for s in states if s.name in nodes]


def _become_password(ask: bool) -> Secret | None:
    if not ask:
        return None
    return Secret(typer.prompt("sudo password", hide_input=True))


def _finish(report: Report, as_json: bool, stats: bool, diffs: bool = False) -> None:
    if as_json:
        _print_json(report.to_json())
    else:
        out = Console(highlight=False)
        if diffs:
            for node in report.nodes.values():
                for text in node.diffs.values():
                    out.print(text, markup=False, end="")
        print_recap(out, report, stats)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILED))


def _emitter(as_json: bool) -> Emit:
    out = Console(highlight=False)

    def emit(node: str, step: StepResult) -> None:
        if not as_json:
            print_step(out, node, step)

    return emit


@app.command()
def up(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    node: NodeOpt = None,
    check: Annotated[bool, typer.Option("--check", help="change nothing, say what would")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="with --check: show file diffs")] = False,
    as_json: JsonOpt = False,
    stats: StatsOpt = False,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """Converge every node: files, packages, services; then wait until the pair serves."""

    def run() -> Report:
        _, states = _load(inventory)
        chosen = _select(states, node)
        password = _become_password(ask_become_pass)
        return converge(
            chosen,
            _emitter(as_json),
            password,
            check=check,
            diff=diff,
            whole_pair=len(chosen) == len(states),
        )

    report = _guard(ctx, run)
    _finish(report, as_json, stats, diffs=check and diff)


@app.command()
def restart(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    node: NodeOpt = None,
    all_nodes: Annotated[bool, typer.Option("--all", help="every node, one at a time")] = False,
    reload: Annotated[bool, typer.Option("--reload", help="reload instead of restart")] = False,
    service: Annotated[str, typer.Option("--service", help="haproxy, keepalived or both")] = "both",
    as_json: JsonOpt = False,
    stats: StatsOpt = False,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """Restart (or --reload) haproxy and keepalived on the given nodes, never all unasked."""

    def run() -> Report:
        _, states = _load(inventory)
        if not node and not all_nodes:
            raise UsageError("name the node(s) with --node NAME, or restart every node with --all")
        chosen = states if all_nodes else _select(states, node)
        services = {
            "both": ("haproxy", "keepalived"),
            "haproxy": ("haproxy",),
            "keepalived": ("keepalived",),
        }.get(service)
        if services is None:
            raise UsageError(f"--service must be haproxy, keepalived or both, not {service!r}")
        password = _become_password(ask_become_pass)
        return operate.restart_services(chosen, services, reload, _emitter(as_json), password)

    report = _guard(ctx, run)
    _finish(report, as_json, stats)


@app.command()
def unlock(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    node: NodeOpt = None,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """Remove the lock a killed run left on a node (says whose it was)."""

    def run() -> Report:
        _, states = _load(inventory)
        if not node:
            raise UsageError("name the node(s) to unlock with --node NAME")
        return operate.unlock(
            _select(states, node), _emitter(False), _become_password(ask_become_pass)
        )

    report = _guard(ctx, run)
    _finish(report, False, False)


@app.command()
def status(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """One table: VRRP state per node, who holds each VIP, haproxy and its servers, drift."""

    def run() -> list[NodeStatus]:
        _, states = _load(inventory)
        return operate.gather_status(states, _become_password(ask_become_pass))

    statuses = _guard(ctx, run)
    if as_json:
        _print_json(status_json(statuses))
    else:
        Console(highlight=False).print(status_table(statuses))
    if any(s.error for s in statuses):
        raise typer.Exit(int(ExitCode.UNREACHABLE))


@app.command()
def verify(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """Exit 0 only when every VIP has one holder, answers on every port, and haproxy runs."""

    def run() -> operate.Verdict:
        _, states = _load(inventory)
        return operate.verify(states, _become_password(ask_become_pass))

    verdict = _guard(ctx, run)
    if as_json:
        payload = {
            "ok": not verdict.problems,
            "problems": verdict.problems,
            "answers": verdict.answers,
            "nodes": status_json(verdict.statuses),
        }
        _print_json(payload)
    else:
        out = Console(highlight=False)
        out.print(status_table(verdict.statuses))
        for target, answer in verdict.answers.items():
            out.print(f"{target}: {answer}", markup=False)
        for problem in verdict.problems:
            out.print(f"[bold red]problem:[/] {escape(problem)}")
        out.print("verify: " + ("[bold red]FAILED[/]" if verdict.problems else "[green]ok[/]"))
    if verdict.problems:
        raise typer.Exit(int(ExitCode.FAILED))


@app.command("failover-test")
def failover_test(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    vip: Annotated[str | None, typer.Option("--vip", help="which VIP (default: the first)")] = None,
    crash: Annotated[
        bool, typer.Option("--crash", help="freeze keepalived (host dies) instead of haproxy")
    ] = False,
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """Break the VIP's holder, time the failover and the way back, leave the pair as found."""

    def run() -> operate.Move:
        _, states = _load(inventory)
        return operate.failover_test(
            states, vip, crash, _emitter(as_json), _become_password(ask_become_pass)
        )

    move = _guard(ctx, run)
    if as_json:
        from dataclasses import asdict

        _print_json(asdict(move))
    else:
        out = Console(highlight=False)

        def fmt(value: float | None) -> str:
            return f"{value:.2f} s" if value is not None else "did not happen within 30 s"

        out.print(
            f"VIP {move.vip}: {move.away_from} -> {move.to or '?'} in {fmt(move.failover_seconds)}"
        )
        if move.failback_seconds is not None or not move.notes:
            out.print(f"back to {move.away_from} in {fmt(move.failback_seconds)}")
        for note in move.notes:
            out.print(note, markup=False)
    if move.failover_seconds is None or (
        move.failback_seconds is None and not any("nopreempt" in n for n in move.notes)
    ):
        raise typer.Exit(int(ExitCode.FAILED))


@app.command()
def switchover(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    to: Annotated[str | None, typer.Option("--to", help="the node to move every VIP to")] = None,
    back: Annotated[bool, typer.Option("--back", help="return VIPs to preferred masters")] = False,
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
) -> None:
    """Move every VIP to one node on purpose (e.g. before maintenance), or --back."""

    def run() -> Report:
        _, states = _load(inventory)
        if (to is None) == (not back):
            raise UsageError("give either --to NODE or --back")
        if to is not None:
            _select(states, [to])
        return operate.switchover(states, to, _emitter(as_json), _become_password(ask_become_pass))

    report = _guard(ctx, run)
    _finish(report, as_json, False)
