"""`lbdeploy` commands for an incident: servers in and out of rotation, an anycast node
out of the routers and back, the events timeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lbdeploy.cli.common import (
    BecomeOpt,
    InventoryArg,
    JsonOpt,
    KeyPassOpt,
    app,
    console,
    credentials,
    emitter,
    finish,
    guard,
    load,
    print_json,
    select,
)
from lbdeploy.core.defaults import DRAIN_TIMEOUT, WITHDRAW_DRAIN
from lbdeploy.errors import UsageError
from lbdeploy.exitcodes import ExitCode

if TYPE_CHECKING:
    from lbdeploy.core.report import Report
    from lbdeploy.ops.drain import AdminState
    from lbdeploy.ops.events import Event

ServerArg = Annotated[str, typer.Argument(help="the backend server, by its inventory name")]
ServiceOpt = Annotated[
    str | None, typer.Option("--service", help="the service, when the server is in several")
]


def _admin(
    ctx: typer.Context,
    state: AdminState,
    inventory: Path,
    server: str,
    service: str | None,
    creds: tuple[bool, bool],
    wait: bool = False,
    timeout: float = DRAIN_TIMEOUT,
) -> None:
    def run() -> Report:
        from lbdeploy.ops.drain import set_state

        credentials_ = credentials(*creds)
        desired = load(inventory, connect=True)
        return set_state(
            desired, server, service, state, emitter(ctx, False), wait, timeout, credentials_
        )

    finish(guard(ctx, run), False, False)


@app.command()
def drain(
    ctx: typer.Context,
    server: ServerArg,
    inventory: InventoryArg = Path("inventory.yaml"),
    service: ServiceOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="until its sessions end")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds --wait may take")] = (
        DRAIN_TIMEOUT
    ),
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Take SERVER out of rotation gently: no new sessions, current ones finish (all nodes)."""
    _admin(ctx, "drain", inventory, server, service, (ask_become_pass, ask_key_pass), wait, timeout)


@app.command()
def maint(
    ctx: typer.Context,
    server: ServerArg,
    inventory: InventoryArg = Path("inventory.yaml"),
    service: ServiceOpt = None,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Put SERVER in maintenance: no traffic, no health checks (all nodes)."""
    _admin(ctx, "maint", inventory, server, service, (ask_become_pass, ask_key_pass))


@app.command()
def ready(
    ctx: typer.Context,
    server: ServerArg,
    inventory: InventoryArg = Path("inventory.yaml"),
    service: ServiceOpt = None,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Put SERVER back in rotation after drain or maint (all nodes)."""
    _admin(ctx, "ready", inventory, server, service, (ask_become_pass, ask_key_pass))


@app.command()
def events(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    since: Annotated[str, typer.Option("--since", help="how far back: 10m, 2h, 1d")] = "1h",
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """One timeline from every node: VRRP transitions, reloads, server health, lbdeploy runs."""

    def run() -> tuple[list[Event], list[str], list[str]]:
        from lbdeploy.ops.events import gather_events

        creds = credentials(ask_become_pass, ask_key_pass)
        return gather_events(load(inventory, connect=True), since, creds)

    found, notes, errors = guard(ctx, run)
    if as_json:
        from lbdeploy.ops.events import events_json

        print_json(events_json(found, notes, errors))
    else:
        from lbdeploy.cli.display import WholeTable, plain

        table = WholeTable(title=f"lbdeploy events, last {since}", title_justify="left")
        for column in ("time (UTC)", "node", "source", "event"):
            table.add_column(column, overflow="fold")
        for event in found:
            when = str(event.to_json()["at"])[11:23]
            message = plain(event.message, lines=True)  # a journal entry may span lines
            table.add_row(*map(plain, (when, event.node, event.source)), message)
        out = console()
        out.print(table)
        for note in notes:
            out.print(plain(note))
        for error in errors:
            out.print(plain(error, lines=True))  # a stderr tail spans lines
    if errors:
        raise typer.Exit(int(ExitCode.UNREACHABLE))


@app.command()
def withdraw(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    node: Annotated[str | None, typer.Option("--node", help="the anycast node")] = None,
    back: Annotated[bool, typer.Option("--back", help="announce it again")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="seconds to wait for its connections to end")
    ] = WITHDRAW_DRAIN,
    force: Annotated[
        bool, typer.Option("--force", help="even when no other node announces a VIP")
    ] = False,
    as_json: JsonOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Take an anycast node out of the routers gently (VIPs kept on lo), or --back.

    Until --back, a restart of FRR or a reboot: either announces the node again.
    """

    def run() -> Report:
        from lbdeploy.ops.withdraw import withdraw as run_withdraw

        desired = load(inventory, connect=True)
        if node is None:
            raise UsageError("name the node with --node NAME")
        select(desired, [node])
        creds = credentials(ask_become_pass, ask_key_pass)
        emit = emitter(ctx, as_json)
        return run_withdraw(desired, node, back, emit, timeout, force, creds)

    finish(guard(ctx, run), as_json, False)
