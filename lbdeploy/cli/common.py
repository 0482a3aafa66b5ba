"""What every `lbdeploy` command shares: the app, loading, options, errors → exit codes.

Only the CLI prints errors: a known LbdeployError as its message and exit code,
anything else as a short notice (the traceback only under --debug).

The CLI modules import only Typer at the top: `--help`, `--version` and shell completion
must not pay for pydantic, Jinja2, rich tables or the SSH stack. Each command imports what
it uses when it runs.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from lbdeploy.cli.terminal import escape_controls
from lbdeploy.errors import LbdeployError, UsageError
from lbdeploy.exitcodes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from lbdeploy.core.credentials import Credentials
    from lbdeploy.core.desired import Desired, Issued
    from lbdeploy.core.report import Report
    from lbdeploy.core.targets import SshConfig
    from lbdeploy.inventory import Inventory
    from lbdeploy.remote.runs import Emit

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    help="Turn bare Debian/Ubuntu nodes into an HAProxy + Keepalived HA pair, over SSH.",
)

T = TypeVar("T")

InventoryArg = Annotated[Path, typer.Argument(help="inventory file", show_default=True)]
NodeOpt = Annotated[list[str] | None, typer.Option("--node", help="only this node (repeatable)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON")]
StatsOpt = Annotated[bool, typer.Option("--stats", help="show SSH connections and round trips")]
BecomeOpt = Annotated[
    bool, typer.Option("--ask-become-pass", "-K", help="ask once for the sudo password")
]
KeyPassOpt = Annotated[
    bool, typer.Option("--ask-key-pass", help="ask once for the SSH key's passphrase")
]


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def guard(ctx: typer.Context, action: Callable[[], T]) -> T:
    """Run a command body; turn errors into one message on stderr and an exit code."""
    try:
        try:
            return action()
        finally:  # live progress lines end before any message is printed
            for printer in (ctx.obj or {}).get("printers", []):
                printer.close()
    except LbdeployError as exc:
        from rich.text import Text

        message = escape_controls(str(exc), lines=True)  # it may quote a node's stderr
        _stderr().print(Text("error: ", style="bold red") + Text(message))
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        _stderr().print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if (ctx.obj or {}).get("debug"):
            traceback.print_exc()
        else:
            _stderr().print(
                escape_controls(
                    f"internal error: {type(exc).__name__}: {exc} "
                    "(this is a bug in lbdeploy; run with --debug for the traceback)",
                    lines=True,
                ),
                markup=False,
            )
        raise typer.Exit(int(ExitCode.INTERNAL)) from None


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def console() -> Console:
    """Standard output for people: no highlighting, lines never wrapped (logs read them whole)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def load(path: Path, *, connect: bool) -> Desired:
    """The inventory and what each node should get.

    `connect`: the command will reach the nodes, so their routes are read from ssh_config.
    A command that never connects (validate, render) reads no SSH configuration at all:
    an inventory must never make lbdeploy run a local command, and ssh_config can name some.
    """
    return load_both(path, connect=connect)[2](None)


def load_both(
    path: Path, *, connect: bool
) -> tuple[Inventory, Path, Callable[[Issued | None], Desired]]:
    """The inventory, its folder, and how it derives with the ACME certificates given (None:
    those the state directory holds, placeholders where nothing was issued yet)."""
    from lbdeploy.core.desired import derive
    from lbdeploy.inventory import load_inventory

    inventory = load_inventory(path, os.environ)
    base = path.resolve().parent
    ssh_config = _ssh_config(path, inventory, base) if connect else None

    def derive_with(issued: Issued | None) -> Desired:
        if issued is None and inventory.acme is not None:
            from lbdeploy.ops.acme_store import read_issued

            issued = read_issued(inventory, base)
        return derive(inventory, base, ssh_config, issued)

    return inventory, base, derive_with


def _ssh_config(path: Path, inventory: Inventory, base: Path) -> SshConfig | None:
    """The ssh_config that `ssh.config_file` names; None for false or null."""
    from lbdeploy.core.targets import resolve_path
    from lbdeploy.errors import SshConfigFileError
    from lbdeploy.inventory.load import locate
    from lbdeploy.remote.sshconfig import read_config

    setting = inventory.ssh.config_file
    if setting is None or setting is False:
        return None
    file = resolve_path(setting, base)
    assert file is not None
    try:
        return read_config(file, required="config_file" in inventory.ssh.model_fields_set)
    except SshConfigFileError as exc:
        raise locate(
            path, ("ssh", "config_file"), f"{exc}; false or null: read no ssh_config"
        ) from None


def select(desired: Desired, nodes: list[str] | None) -> Desired:
    if not nodes:
        return desired
    known = [n.name for n in desired.nodes]
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise UsageError(f"no node named {', '.join(unknown)} (nodes: {', '.join(sorted(known))})")
    return desired.only(nodes)


def credentials(ask_become_pass: bool, ask_key_pass: bool) -> Credentials:
    """Ask once, before any connection, for what the run will need."""
    from lbdeploy.core.credentials import Credentials
    from lbdeploy.scripts.shell import Secret

    become = Secret(typer.prompt("sudo password", hide_input=True)) if ask_become_pass else None
    key = Secret(typer.prompt("key passphrase", hide_input=True)) if ask_key_pass else None
    return Credentials(become, key)


def finish(report: Report, as_json: bool, stats: bool, diffs: bool = False) -> None:
    if as_json:
        print_json(report.to_json())
    else:
        from lbdeploy.cli.display import print_recap

        out = console()
        if diffs:
            for node in report.nodes.values():
                for text in node.diffs.values():
                    out.print(escape_controls(text, lines=True), markup=False, end="")
        print_recap(out, report, stats)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILED))


def emitter(ctx: typer.Context, as_json: bool) -> Emit:
    """Step lines as they happen: one line each, never wrapped (logs read them whole); on a
    terminal, a live line per running step. `guard` closes it, whatever happens."""
    if as_json or (ctx.obj or {}).get("quiet"):
        return lambda node, step: None  # JSON and --quiet load no rich at all
    from lbdeploy.cli.progress import StepPrinter

    printer = StepPrinter(console())
    if ctx.obj is not None:
        ctx.obj.setdefault("printers", []).append(printer)
    return printer
