"""The `lbdeploy` command: parse, call one function, map errors to exit codes.

This module holds the commands that read or converge an inventory (validate, render,
schema, rules, up); the commands that operate a running pair are in `cli_operate`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lbdeploy import __version__
from lbdeploy.cli import common
from lbdeploy.cli.common import (
    BecomeOpt,
    InventoryArg,
    JsonOpt,
    KeyPassOpt,
    NodeOpt,
    StatsOpt,
    app,
)
from lbdeploy.cli.terminal import escape_controls

if TYPE_CHECKING:
    from lbdeploy.core.desired import Desired
    from lbdeploy.core.report import Report

__all__ = ["app", "main"]


GLOBAL_FLAGS = ("--debug", "--quiet", "-q")
RULES = "data/prometheus-rules.yml"  # in the package (pyproject's package-data)


def hoist_global_options(argv: list[str]) -> list[str]:
    """Global flags given after the command name (`lbdeploy up inv.yaml --quiet`, where
    people type them) moved before it, where Typer reads them; `--` ends the search."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return [*flags, *(a for a in argv[:end] if a not in GLOBAL_FLAGS), *argv[end:]]


def main() -> None:
    """The console command: run the app, flush, and leave without finalizing the interpreter.

    Tearing down what a run has loaded (pydantic, cryptography, paramiko, their C
    extensions) took 60-90 ms in the lab and serves no purpose once the command is done;
    every pool and connection is closed by then. Tests call `app` itself.
    """
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="lbdeploy")
        code: int = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            code = 1
        else:
            code = exc.code or 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            code = code or 1
    os._exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lbdeploy {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only the recap, no step lines")] = (
        False
    ),
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug, "quiet": quiet}


@app.command()
def validate(ctx: typer.Context, inventory: InventoryArg = Path("inventory.yaml")) -> None:
    """Check the inventory and show what each node will get (secrets masked)."""

    def run() -> None:
        from lbdeploy.cli.display import certificates_table, plain, services_table, summary_table
        from lbdeploy.components.tls import certificate_warnings

        desired = common.load(inventory, connect=False)
        out = common.console()
        out.print(summary_table(desired))
        out.print(services_table(desired.pair))
        if desired.pair.bundles:
            out.print(certificates_table(desired.pair))
        for warning in certificate_warnings(desired.pair):
            out.print(plain(warning))  # it names the certificate's subject
        summary = f"{inventory}: valid, {len(desired.nodes)} nodes, {len(desired.pair.vips)} VIPs"
        if desired.pair.anycast is not None:
            summary += f", {len(desired.pair.anycast.vips)} anycast VIPs"
        out.print(plain(summary))

    common.guard(ctx, run)


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
        from lbdeploy.core.render import make_environment, render_node
        from lbdeploy.ops.render_out import write_file

        desired = common.load(inventory, connect=False)
        written = 0
        templates = make_environment()
        for node in desired.nodes:
            for file in render_node(desired.pair, node, env=templates).values():
                write_file(out / node.name, file.path, file.content, file.mode)
                written += 1
        message = f"wrote {written} files for {len(desired.nodes)} nodes under {out}/"
        common.console().print(escape_controls(message), markup=False)

    common.guard(ctx, run)


@app.command()
def schema() -> None:
    """Print the inventory's JSON Schema (for editors)."""
    from lbdeploy.inventory import Inventory

    common.print_json(Inventory.model_json_schema())


@app.command()
def rules() -> None:
    """Print lbdeploy's Prometheus alert and recording rules (docs/metrics.md)."""
    from importlib.resources import files

    sys.stdout.write(files("lbdeploy").joinpath(RULES).read_text(encoding="utf-8"))


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
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Converge every node: files, packages, services; then wait until the pair serves."""

    def run() -> Report:
        from lbdeploy.ops.acme_store import local_state
        from lbdeploy.ops.up import converge

        inv, base, derive_with = common.load_both(inventory, connect=True)
        desired = derive_with(None)
        chosen = common.select(desired, node)
        creds = common.credentials(ask_become_pass, ask_key_pass)
        whole = len(chosen.nodes) == len(desired.nodes)
        emit = common.emitter(ctx, as_json)
        state = local_state(inv, base) if inv.acme is not None else None
        report = converge(
            chosen, emit, creds, check=check, diff=diff, whole_pair=whole, acme_state=state
        )
        if check or inv.acme is None or not whole or not report.ok:
            return report
        # ACME: the nodes now answer HTTP-01 (a first run deployed the port-80 frontend
        # with a placeholder), so what is due is ordered and deployed like any certificate.
        from lbdeploy.ops.renew import merge, renew

        def deploy(new: Desired, only: frozenset[str]) -> Report:
            return converge(new, emit, creds, acme_state=state, only=only)

        return merge(report, renew(inv, base, derive_with, emit, creds, deploy=deploy))

    report = common.guard(ctx, run)
    common.finish(report, as_json, stats, diffs=check and diff)


@app.command()
def renew(
    ctx: typer.Context,
    inventory: InventoryArg = Path("inventory.yaml"),
    force: Annotated[bool, typer.Option("--force", help="order even what is not due")] = False,
    as_json: JsonOpt = False,
    stats: StatsOpt = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Renew the ACME certificates that are due and deploy only them (their certificate
    files and the expiry metric; nothing else the inventory would change); exit 1 if one
    failed (cron)."""

    def run() -> Report:
        from lbdeploy.ops.acme_store import local_state
        from lbdeploy.ops.renew import renew as renew_due
        from lbdeploy.ops.up import converge

        inv, base, derive_with = common.load_both(inventory, connect=True)
        creds = common.credentials(ask_become_pass, ask_key_pass)
        emit = common.emitter(ctx, as_json)
        state = local_state(inv, base) if inv.acme is not None else None

        def deploy(new: Desired, only: frozenset[str]) -> Report:
            return converge(new, emit, creds, acme_state=state, only=only)

        return renew_due(inv, base, derive_with, emit, creds, force=force, deploy=deploy)

    report = common.guard(ctx, run)
    common.finish(report, as_json, stats)


@app.command()
def init(
    ctx: typer.Context,
    nodes: Annotated[list[str], typer.Argument(help="[user@]host[:port] or ssh_config alias")],
    vip: Annotated[str, typer.Option("--vip", help="the virtual IP the pair will share")],
    user: Annotated[str | None, typer.Option("--user", help="SSH user (sudo if not root)")] = None,
    identity: Annotated[Path | None, typer.Option("--identity", help="SSH private key")] = None,
    known_hosts: Annotated[Path, typer.Option("--known-hosts")] = Path("~/.ssh/known_hosts"),
    trust_new: Annotated[
        bool,
        typer.Option(
            "--trust-new-host-keys", help="record unknown host keys (a changed one still stops)"
        ),
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="the inventory to write")] = Path(
        "inventory.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="overwrite --out")] = False,
    ask_become_pass: BecomeOpt = False,
    ask_key_pass: KeyPassOpt = False,
) -> None:
    """Write an inventory from the nodes themselves: public interface, netmask, a free vrid."""

    def run() -> str:
        from lbdeploy.ops.init import start_inventory

        return start_inventory(
            nodes,
            vip,
            user,
            identity,
            known_hosts.expanduser(),
            trust_new,
            out,
            force,
            common.credentials(ask_become_pass, ask_key_pass),
        )

    # The inventory it wrote, from what the nodes said: shown, never obeyed.
    common.console().print(escape_controls(common.guard(ctx, run), lines=True), markup=False)


# The operating commands register themselves on the same app, listed after these.
from lbdeploy.cli import incident as cli_incident  # noqa: E402, F401
from lbdeploy.cli import operate as cli_operate  # noqa: E402, F401
