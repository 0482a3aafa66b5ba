"""`lbdeploy` commands that operate a running pair: restart, unlock, status, verify,
failover-test, switchover. Each parses, calls one function, maps the outcome to an exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lbdeploy.cli.common import (
    BecomeOpt,
    InventoryArg,
    JsonOpt,
    KeyPassOpt,
    NodeOpt,
    StatsOpt,
    app,
    console,
    credentials,
    emitter,
    finish,
    guard,
    load,
    load_both,
    print_json,
    select,
)
from lbdeploy.errors import UsageError
from lbdeploy.exitcodes import ExitCode

if TYPE_CHECKING:
    from lbdeploy.core.health import NodeStatus
    from lbdeploy.core.report import Report
    from lbdeploy.ops.acme_status import AcmeStatus
    from lbdeploy.ops.failover import Move
    from lbdeploy.ops.restart import Mode
    from lbdeploy.ops.status import Verdict


@app.command()
def restart(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    node: NodeOpt = None,
    all_nodes: Annotated[bool, typer.Option("--all", help="every node, one at a time")] = False,
    reload: Annotated[bool, typer.Option("--reload", help="reload instead of restart")] = False,
    hard: Annotated[
        bool,
        typer.Option(
            "--hard",
            help="stop and start (default: haproxy reloads, a VIP holder"
            " hands its VIPs over before keepalived restarts)",
        ),
    ] = False,
    service: Annotated[
        str, typer.Option("--service", help="haproxy, keepalived (frr, the gate) or both: all")
    ] = "both",
    as_json: JsonOpt = False,
    stats: StatsOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Restart haproxy and keepalived gracefully (no VIP lost), node by node; --hard, --reload."""

    def run() -> Report:
        from lbdeploy.ops.restart import restart_services

        desired = load(inventory, connect=True)
        if not node and not all_nodes:
            raise UsageError("name the node(s) with --node NAME, or restart every node with --all")
        chosen = [n.name for n in (desired if all_nodes else select(desired, node)).nodes]
        from lbdeploy.components import units

        every = units(desired.pair)
        services = every if service == "both" else (service,) if service in every else None
        if services is None:
            names = ", ".join(every)
            raise UsageError(f"--service must be one of {names} or both (all), not {service!r}")
        creds = credentials(ask_become_pass, ask_key_pass)
        mode: Mode = "hard" if hard else "reload" if reload else "graceful"
        return restart_services(desired, chosen, services, mode, emitter(ctx, as_json), creds)

    finish(guard(ctx, run), as_json, stats)


@app.command()
def unlock(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    node: NodeOpt = None,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Remove the lock a killed run left on a node (says whose it was)."""

    def run() -> Report:
        from lbdeploy.ops import switchover as operate

        if not node:
            raise UsageError("name the node(s) to unlock with --node NAME")
        chosen = select(load(inventory, connect=True), node)
        return operate.unlock(
            chosen, emitter(ctx, False), credentials(ask_become_pass, ask_key_pass)
        )

    finish(guard(ctx, run), False, False)


@app.command()
def status(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    as_json: JsonOpt = False,
    watch: Annotated[bool, typer.Option("--watch", help="refresh in place until Ctrl-C")] = False,
    interval: Annotated[float, typer.Option("--interval", help="seconds between refreshes")] = 2,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """One table: VRRP state per node, who holds each VIP, haproxy and its servers, drift."""
    if watch:
        from lbdeploy.cli.watch import watch_status

        creds = credentials(ask_become_pass, ask_key_pass)
        guard(ctx, lambda: watch_status(load(inventory, connect=True), creds, max(0.5, interval)))
        return

    certs: list[AcmeStatus] = []

    def run() -> list[NodeStatus]:
        from lbdeploy.ops.acme_status import acme_status, with_served
        from lbdeploy.ops.status import gather_status

        inv, base, derive_with = load_both(inventory, connect=True)
        desired = derive_with(None)
        found = gather_status(desired, credentials(ask_become_pass, ask_key_pass))
        certs.extend(with_served(acme_status(inv, base), desired.pair, found))
        return found

    statuses = guard(ctx, run)
    from lbdeploy.cli.display import anycast_table, plain, status_json, status_table

    if as_json:
        print_json(status_json(statuses))  # a list, as before: ACME's JSON is verify's
    else:
        console().print(status_table(statuses))
        if (bgp := anycast_table(statuses)) is not None:
            console().print(bgp)
        for cert in certs:
            console().print(plain(cert.line()))
    if any(s.error for s in statuses):
        raise typer.Exit(int(ExitCode.UNREACHABLE))


@app.command()
def verify(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Exit 0 only when every VIP has one holder, answers on every port, and haproxy runs."""

    certs: list[AcmeStatus] = []

    def run() -> Verdict:
        from lbdeploy.ops.acme_status import acme_status, with_served
        from lbdeploy.ops.status import verify as verify_pair

        inv, base, derive_with = load_both(inventory, connect=True)
        desired = derive_with(None)
        verdict = verify_pair(desired, credentials(ask_become_pass, ask_key_pass))
        # What the nodes serve decides: a certificate issued from another machine's
        # state is right, only the placeholder serving is a problem.
        certs.extend(with_served(acme_status(inv, base), desired.pair, verdict.statuses))
        verdict.problems += [c.problem for c in certs if c.problem]
        return verdict

    verdict = guard(ctx, run)
    from rich.text import Text

    from lbdeploy.cli.display import anycast_table, plain, status_json, status_table

    if as_json:
        print_json(
            {
                "ok": not verdict.problems,
                "problems": verdict.problems,
                "answers": verdict.answers,
                "nodes": status_json(verdict.statuses),
                **_acme_json(certs),
            }
        )
    else:
        out = console()
        out.print(status_table(verdict.statuses))
        if (bgp := anycast_table(verdict.statuses)) is not None:
            out.print(bgp)
        for target, answer in verdict.answers.items():
            out.print(plain(f"{target}: {answer}"))
        for cert in certs:
            out.print(plain(cert.line()))
        for problem in verdict.problems:
            out.print(Text("problem: ", style="bold red") + plain(problem))
        failed = Text("FAILED", style="bold red") if verdict.problems else Text("ok", style="green")
        out.print(Text("verify: ") + failed)
    if verdict.problems:
        raise typer.Exit(int(ExitCode.FAILED))


def _acme_json(certs: list[AcmeStatus]) -> dict[str, object]:
    """ACME certificates in JSON, only when the inventory has some (the shape is kept)."""
    return {"acme": [c.to_json() for c in certs]} if certs else {}


def _print_move(move: Move) -> None:
    from lbdeploy.cli.display import plain

    out = console()

    def fmt(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else "did not happen within 30 s"

    for one in (move, *move.also):
        lines = [
            f"VIP {one.vip}: {one.away_from} -> {one.to or '?'} in {fmt(one.failover_seconds)}"
        ]
        if one.failback_seconds is not None or not one.notes:
            lines.append(f"back to {one.away_from} in {fmt(one.failback_seconds)}")
        for line in [*lines, *one.notes, f"outcome: {one.outcome.value}"]:
            out.print(plain(line))


@app.command("failover-test")
def failover_test(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    vip: Annotated[str | None, typer.Option("--vip", help="which VIP (default: the first)")] = None,
    crash: Annotated[
        bool, typer.Option("--crash", help="freeze keepalived (host dies) instead of haproxy")
    ] = False,
    node: Annotated[
        str | None, typer.Option("--node", help="anycast: the node to stop haproxy on")
    ] = None,
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Break the VIP's holder, time the failover and the way back, leave the pair as found."""

    def run() -> Move:
        from lbdeploy.ops.failover import failover_test as run_failover_test

        creds = credentials(ask_become_pass, ask_key_pass)
        desired = load(inventory, connect=True)
        emit = emitter(ctx, as_json)
        return run_failover_test(desired, vip, crash, emit, creds, node)

    move = guard(ctx, run)
    if as_json:
        print_json(move.to_json())
    else:
        _print_move(move)
    if not move.ok:
        raise typer.Exit(int(ExitCode.FAILED))


@app.command()
def switchover(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    to: Annotated[str | None, typer.Option("--to", help="the node to move every VIP to")] = None,
    back: Annotated[bool, typer.Option("--back", help="return VIPs to preferred masters")] = False,
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Move every VIP to one node on purpose (e.g. before maintenance), or --back."""

    def run() -> Report:
        from lbdeploy.ops import switchover as operate

        desired = load(inventory, connect=True)
        if (to is None) == (not back):
            raise UsageError("give either --to NODE or --back")
        if to is not None:
            select(desired, [to])
        creds = credentials(ask_become_pass, ask_key_pass)
        return operate.switchover(desired, to, emitter(ctx, as_json), creds)

    finish(guard(ctx, run), as_json, False)
