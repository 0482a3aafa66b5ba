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
from rich.table import Table

from lbdeploy.desired import NodeState, derive_states
from lbdeploy.errors import LbdeployError
from lbdeploy.exitcodes import ExitCode
from lbdeploy.inventory import Inventory, load_inventory
from lbdeploy.render import render_node

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


def _guard(ctx: typer.Context, action: Callable[[], T]) -> T:
    """Run a command body; turn errors into one message on stderr and an exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return action()
    except LbdeployError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
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


def _summary(inventory: Inventory, states: list[NodeState]) -> Table:
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


def _services(inventory: Inventory) -> Table:
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


@app.command()
def validate(ctx: typer.Context, inventory: InventoryArg = Path("inventory.yaml")) -> None:
    """Check the inventory and show what each node will get (secrets masked)."""

    def run() -> None:
        inv, states = _load(inventory)
        out = Console(highlight=False)
        out.print(_summary(inv, states))
        out.print(_services(inv))
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
    json.dump(Inventory.model_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
