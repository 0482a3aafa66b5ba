"""Output a person reads in a log or a narrow terminal never breaks a value (issue 25, 4).

`status` piped to a file (rich's 80 columns) printed `172.29.15` / `0.150` and
`2.6.12-1+d` / `eb12u3`; a table now widens instead, wrapping cells at spaces only.
Global flags work where people type them too: after the command name.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from lbdeploy.cli.app import hoist_global_options
from lbdeploy.cli.display import status_table
from lbdeploy.core.health import NodeStatus

WHOLE = ("172.29.150.150", "fd00:29:150::150", "2.6.12-1+deb12u3", "web/web1", "VI_50")


def _status() -> list[NodeStatus]:
    return [
        NodeStatus(
            node=name,
            vrrp={"VI_50": state, "VI6_50": state},
            holds=("172.29.150.150", "fd00:29:150::150") if state == "MASTER" else (),
            haproxy="active",
            keepalived="active",
            haproxy_version="2.6.12-1+deb12u3",
            servers=(("web", "web1", "UP"), ("web", "web2", "UP")),
        )
        for name, state in (("hera", "MASTER"), ("afrodita", "BACKUP"))
    ]


@pytest.mark.parametrize("width", [80, 60, 40])  # a pipe's 80 columns, narrow terminals
def test_a_status_table_never_splits_an_address_or_a_version(width: int) -> None:
    out = io.StringIO()
    Console(file=out, width=width, highlight=False, soft_wrap=True).print(status_table(_status()))
    lines = out.getvalue().splitlines()
    for value in WHOLE:
        assert any(value in line for line in lines), (value, out.getvalue())


def test_global_flags_after_the_command_name_move_before_it() -> None:
    assert hoist_global_options(["up", "inv.yaml", "--quiet"]) == ["--quiet", "up", "inv.yaml"]
    assert hoist_global_options(["status", "-q", "--debug"]) == ["-q", "--debug", "status"]
    # After `--` a word is an argument, whatever it looks like.
    assert hoist_global_options(["up", "--", "--quiet"]) == ["up", "--", "--quiet"]


def test_validate_takes_quiet_after_the_command_name(tmp_path: Path) -> None:
    data = Path(__file__).parent / "data" / "render" / "lab" / "inventory.yaml"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(data.read_text())
    done = subprocess.run(
        [sys.executable, "-m", "lbdeploy", "validate", str(inventory), "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No such option" not in done.stderr
