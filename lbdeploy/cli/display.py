"""Reports, states and statuses as rich tables and lines for people.

Every string that came from the inventory, a node, a daemon or a certificate is a
`Text` made by `plain`, never markup: a server named `[red]x[/red]` is printed as
written, and a CN holding `\x1b]0;...` is shown so, not obeyed (`terminal.py`).
"""

from __future__ import annotations

from dataclasses import asdict

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from lbdeploy.addresses import hostport
from lbdeploy.cli.terminal import escape_controls
from lbdeploy.core.desired import Desired, PairState
from lbdeploy.core.health import NodeStatus
from lbdeploy.core.report import Report, StepResult


class WholeTable(Table):
    """A table that widens rather than split a word: an address, a version or a name stays
    on one line however narrow the terminal, or a log's 80 columns (cells wrap at spaces
    only). Every table lbdeploy prints is one."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for column in self.columns:
            words = [w for cell in (column.header, *column.cells) for w in _words(cell)]
            column.min_width = max([column.min_width or 0, *map(cell_len, words)])
        yield from super().__rich_console__(console, options)


def _words(cell: object) -> list[str]:
    text = cell.plain if isinstance(cell, Text) else cell if isinstance(cell, str) else ""
    return text.split()


_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "would change": "yellow",
    "failed": "bold red",
    "skipped": "dim",
    "running": "cyan",
}


def plain(value: str, style: str = "", lines: bool = False) -> Text:
    """A string from outside, for people: no markup, control characters shown, not obeyed.

    `lines`: it may span lines (an error with a stderr tail); otherwise it stays on one.
    """
    return Text(escape_controls(value, lines), style=style)


def print_step(console: Console, node: str, result: StepResult) -> None:
    """One line per step, whatever its detail holds (logs read them whole)."""
    line = plain(f"{node:<12} {result.step:<10} ")
    line.append(result.status, style=_STYLE[result.status])
    if result.detail:
        line.append(escape_controls(f"  {result.detail}"))
    console.print(line)


def _result_cell(result: str) -> Text:
    style = {"failed": "bold red", "skipped": "yellow"}.get(result, "green")
    return Text(result, style=style)


def print_recap(console: Console, report: Report, stats: bool) -> None:
    table = WholeTable(title=f"lbdeploy {report.command}: recap", title_justify="left")
    for column in ("node", "result", "changed", "drift"):
        table.add_column(column)
    if stats:
        for column in ("connections", "round trips", "ssh seconds"):
            table.add_column(column, justify="right")
    for name, node in report.nodes.items():
        row = [plain(name), _result_cell(node.result), Text(str(node.changed))]
        row.append(plain(", ".join(node.drift) or "-"))
        if stats:
            c = node.counters
            row += [Text(str(c.connections)), Text(str(c.round_trips)), Text(f"{c.seconds:.2f}")]
        table.add_row(*row)
    console.print(table)
    for name, node in report.nodes.items():
        if node.error:
            console.print(plain(f"{name}: ", style="bold red") + plain(node.error, lines=True))
    for note in report.notes:
        console.print(plain(note))
    console.print(Text(f"took {report.seconds:.1f} s"))


def summary_table(desired: Desired) -> Table:
    """validate's table; its ssh column is the inventory's word alone, since validate reads no
    ssh_config (a command that connects takes HostName, User, Port, ProxyJump from it)."""
    pair = desired.pair
    table = WholeTable(title="lbdeploy: what each node will get", title_justify="left")
    table.add_column("node")
    table.add_column("ssh (before ssh_config)")
    table.add_column(f"{pair.interface.name} address")
    for vip in pair.vips:
        table.add_column(f"VIP {vip.vip} (vrid {vip.virtual_router_id})")
    for node in desired.nodes:
        ssh = node.ssh
        sudo = " (sudo)" if ssh.needs_sudo else ""
        table.add_row(
            plain(node.name),
            plain(f"{ssh.user}@{hostport(ssh.host, ssh.port)}{sudo}"),
            plain(", ".join(map(str, pair.interfaces(node)))),
            *(
                plain(
                    f"{r.state} prio {r.priority}" + (" nopreempt" if r.instance.nopreempt else "")
                )
                for r in node.vrrp
            ),
        )
    return table


def services_table(pair: PairState) -> Table:
    table = WholeTable(title="services", title_justify="left")
    for column in ("name", "listens on", "mode", "balance", "servers"):
        table.add_column(column)
    for svc in pair.services:
        servers = ", ".join(f"{s.name}={hostport(s.address, s.port)}" for s in svc.servers)
        listens = ", ".join(target for _, target in svc.targets)
        table.add_row(*map(plain, (svc.name, listens, svc.mode, svc.balance, servers)))
    if pair.stats:
        st = pair.stats
        where = f"<node address>:{st.port}{st.uri}"
        table.add_row(*map(plain, ("stats", where, "http", "-", f"auth {st.user}:{st.password}")))
    return table


def _certs_cell(status: NodeStatus) -> str:
    """Each certificate HAProxy holds: its file and days to expiry."""
    cells = []
    for path, cert in status.certs.items():
        left = cert.days_left()
        cells.append(f"{path.rpartition('/')[2]} {'?' if left is None else left} d")
    return ", ".join(cells) or "-"


def certificates_table(pair: PairState) -> Table:
    table = WholeTable(title="certificates", title_justify="left")
    for column in ("service", "file", "names", "issuer", "expires", "on the nodes"):
        table.add_column(column, overflow="fold")
    for svc in pair.services:
        for bundle in svc.tls:
            chain = bundle.chain
            expires = f"{chain.not_after:%Y-%m-%d} ({chain.days_left()} days)"
            cells = (svc.name, str(chain.path), ", ".join(chain.names), chain.issuer, expires)
            table.add_row(*map(plain, (*cells, bundle.path)))
    return table


def status_table(statuses: list[NodeStatus]) -> Table:
    table = WholeTable(title="lbdeploy status", title_justify="left")
    tls = any(s.certs for s in statuses)
    columns = ("node", "keepalived", "holds", "haproxy", "servers", "standby", "drift")
    for column in (*columns, *(("tls",) if tls else ())):
        table.add_column(column, overflow="fold")
    for status in statuses:
        if status.error:
            error = plain(status.error, style="red", lines=True)
            table.add_row(plain(status.node), error, *[""] * (5 + tls))
            continue
        vrrp = ", ".join(f"{k} {v}" for k, v in status.vrrp.items()) or status.keepalived
        servers = ", ".join(f"{svc}/{srv} {st}" for svc, srv, st in status.servers) or "-"
        cells = (
            status.node,
            vrrp,
            ", ".join(status.holds) or "-",
            f"{status.haproxy} {status.haproxy_version}".strip() + _sync_cell(status),
            servers,
            "yes" if status.standby else "no",
            ", ".join(status.drift) or "-",
            *((_certs_cell(status),) if tls else ()),
        )
        table.add_row(*map(plain, cells))
    return table


def _sync_cell(status: NodeStatus) -> str:
    """', tables synced with afrodita' (or 'not synced with afrodita (CONN)')."""
    synced = [peer for peer, state in status.sync.items() if state == "EST"]
    not_synced = [f"{peer} ({state})" for peer, state in status.sync.items() if state != "EST"]
    cell = f", tables synced with {', '.join(synced)}" if synced else ""
    return cell + (f", not synced with {', '.join(not_synced)}" if not_synced else "")


def _since(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f" {hours}h{minutes:02d}m" if hours else f" {minutes}m{secs:02d}s"


def anycast_table(statuses: list[NodeStatus]) -> Table | None:
    """One row per node and BGP peer: the session, BFD, the anycast VIPs announced to it."""
    shown = [s for s in statuses if s.anycast is not None]
    if not shown:
        return None
    table = WholeTable(title="anycast (BGP)", title_justify="left")
    for column in ("node", "gate, VIPs on lo", "peer", "session", "BFD", "announced"):
        table.add_column(column, overflow="fold")
    for status in shown:
        anycast = status.anycast
        assert anycast is not None
        gate = f"{anycast.gate}, {', '.join(anycast.on_lo) or 'none'}"
        if anycast.withdrawn:
            gate += ", withdrawn"
        if anycast.frr != "active":
            table.add_row(*map(plain, (status.node, gate, "-", f"frr {anycast.frr}", "-", "-")))
        for i, peer in enumerate(anycast.peers):
            cells = (
                status.node if i == 0 else "",
                gate if i == 0 else "",
                peer.peer,
                f"{peer.state}{_since(peer.uptime_s)}",
                peer.bfd or "-",
                ", ".join(peer.announced) or "-",
            )
            table.add_row(*map(plain, cells))
    return table


def status_json(statuses: list[NodeStatus]) -> list[dict[str, object]]:
    """What `status --json` prints: stable, documented in docs/json.md (and tested there)."""
    return [asdict(s) for s in statuses]
