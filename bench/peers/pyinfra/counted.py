"""pyinfra's CLI with its SSH use counted: connections and channel sessions per node.

paramiko's Transport is wrapped before pyinfra starts; the counts (keyed by the node's
SSH port) are written to $BENCH_COUNTS at exit. Counting costs microseconds a call.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import paramiko


def _port(transport: paramiko.Transport) -> str:
    try:
        return str(transport.getpeername()[1])
    except OSError:
        return "?"


def main() -> None:
    connections: Counter[str] = Counter()
    sessions: Counter[str] = Counter()
    start_client = paramiko.Transport.start_client
    open_session = paramiko.Transport.open_session

    def counted_start(self: paramiko.Transport, *args: Any, **kwargs: Any) -> Any:
        connections[_port(self)] += 1
        return start_client(self, *args, **kwargs)

    def counted_session(self: paramiko.Transport, *args: Any, **kwargs: Any) -> Any:
        sessions[_port(self)] += 1
        return open_session(self, *args, **kwargs)

    paramiko.Transport.start_client = counted_start  # type: ignore[method-assign]
    paramiko.Transport.open_session = counted_session  # type: ignore[method-assign]
    out = Path(os.environ["BENCH_COUNTS"])
    atexit.register(
        lambda: out.write_text(json.dumps({"connections": connections, "sessions": sessions}))
    )
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv[0] = "pyinfra"
    pyinfra_main()


if __name__ == "__main__":
    main()
