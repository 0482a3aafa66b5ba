"""`lbdeploy status --watch`: the status table refreshed in place until Ctrl-C.

Each refresh is one status round trip per node and a look at the last events; on a
terminal the table is redrawn in place (rich's Live), and Ctrl-C ends it cleanly,
leaving the last table on the screen and the cursor where it belongs.
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from lbdeploy.cli.display import anycast_table, plain, status_table
from lbdeploy.core.credentials import Credentials
from lbdeploy.core.desired import Desired
from lbdeploy.ops.events import gather_events
from lbdeploy.ops.status import gather_status


def _frame(desired: Desired, creds: Credentials) -> Group:
    statuses = gather_status(desired, creds)
    found, notes, _ = gather_events(desired, "1h", creds)
    lines: list[RenderableType] = [status_table(statuses)]
    if (bgp := anycast_table(statuses)) is not None:
        lines.append(bgp)
    if found:
        last = found[-1]
        when = str(last.to_json()["at"])[11:19]
        lines.append(plain(f"last event: {when} UTC {last.node} {last.source}: {last.message}"))
    lines += [plain(note) for note in notes]
    stamp = datetime.now().strftime("%H:%M:%S")
    lines.append(Text(f"updated {stamp}; Ctrl-C to stop", style="dim"))
    return Group(*lines)


def watch_status(desired: Desired, creds: Credentials, interval: float) -> None:
    console = Console(highlight=False)
    try:
        with Live(_frame(desired, creds), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(_frame(desired, creds), refresh=True)
    except KeyboardInterrupt:
        console.print(Text("stopped"))
