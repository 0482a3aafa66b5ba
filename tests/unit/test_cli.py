"""The CLI maps outcomes to exit codes and never prints a secret."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lbdeploy.cli.app import app

DATA = Path(__file__).parent / "data"
CLASSIC = DATA / "render" / "classic" / "inventory.yaml"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}


def test_validate_summarises_roles_with_secrets_masked() -> None:
    result = CliRunner().invoke(app, ["validate", str(CLASSIC)], env=ENV, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "MASTER prio 254" in result.output and "BACKUP prio 253" in result.output
    assert "auth admin:***" in result.output
    assert "vrrp-pw" not in result.output and "stats-pw" not in result.output


def test_bad_inventory_exits_2_with_place_and_no_traceback() -> None:
    bad = DATA / "inventory_errors" / "vip_outside_subnet.yaml"
    result = CliRunner().invoke(app, ["validate", str(bad)], env=ENV)
    assert result.exit_code == 2
    assert f"{bad}:9:8: vrrp.vip: 192.168.2.150 is outside the subnet" in result.output
    assert "Traceback" not in result.output


def test_inventory_defaults_to_inventory_yaml(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate"], env=ENV)
    assert result.exit_code == 2
    assert "inventory.yaml:1:1: cannot read" in result.output
    (tmp_path / "inventory.yaml").write_text(CLASSIC.read_text())
    assert CliRunner().invoke(app, ["validate"], env=ENV).exit_code == 0


def test_render_writes_each_node_tree_with_tight_modes(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(CLASSIC), "--out", str(tmp_path)], env=ENV)
    assert result.exit_code == 0, result.output
    conf = tmp_path / "hera" / "etc" / "keepalived" / "keepalived.conf"
    assert "router_id hera" in conf.read_text()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert (tmp_path / "afrodita" / "etc" / "haproxy" / "haproxy.cfg").exists()
    assert "vrrp-pw" not in result.output


def test_schema_is_json_schema_of_the_inventory() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    # vrrp, anycast or both: the loader says which is missing (inventory/anycast.py)
    assert set(schema["required"]) == {"nodes", "interface"}
    assert {"VrrpInstance", "AnycastVip", "Bgp"} <= set(schema["$defs"])


def test_step_lines_are_whole_lines_without_colour_codes_in_a_log() -> None:
    """Piped into a file or a CI log: one line per step, whatever the width, no ANSI."""
    import io

    from rich.console import Console

    from lbdeploy.cli.display import print_step
    from lbdeploy.core.report import StepResult

    buffer = io.StringIO()
    console = Console(file=buffer, width=40, highlight=False, soft_wrap=True)
    detail = "install keepalived haproxy socat; add system user keepalived_script [red]x[/red]"
    print_step(console, "afrodita", StepResult("packages", "changed", detail))
    text = buffer.getvalue()
    assert text.count("\n") == 1 and "\x1b[" not in text
    assert text == f"afrodita     packages   changed  {detail}\n"


def test_version_and_quiet() -> None:
    from lbdeploy import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"lbdeploy {__version__}\n"


def _imported_after(*args: str) -> list[str]:
    """The heavy libraries a fresh interpreter has loaded after `lbdeploy ARGS`."""
    import ast
    import subprocess
    import sys

    heavy = ("fabric", "paramiko", "invoke", "pydantic", "jinja2", "cryptography", "yaml")
    probe = (
        "import sys\n"
        "from lbdeploy.cli.app import app\n"
        "try:\n"
        f"    app({list(args)!r}, prog_name='lbdeploy')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_version_and_help_load_no_ssh_stack_models_or_templates() -> None:
    """`--help`, `--version` and completion import Typer only; commands load the rest."""
    assert _imported_after("--version") == []
    assert _imported_after("--help") == []
    # A command's own help: Typer validates its options with pydantic, nothing more.
    assert _imported_after("up", "--help") == ["pydantic"]


def test_the_suite_reads_nothing_of_the_developers_home(home: Path) -> None:
    """`~` is an empty folder of the test's own (tests/unit/conftest.py)."""
    assert Path("~/.ssh/config").expanduser() == home / ".ssh" / "config"
    assert list(home.iterdir()) == []


def test_rules_prints_the_packaged_prometheus_rules() -> None:
    result = CliRunner().invoke(app, ["rules"])
    assert result.exit_code == 0, result.output
    shipped = Path(__file__).parent.parent.parent / "lbdeploy" / "data" / "prometheus-rules.yml"
    assert result.output == shipped.read_text()
    assert yaml.safe_load(result.output)["groups"]


def test_withdraw_says_what_ends_a_hold_out() -> None:
    """The flag lives in /run and bgpd restarts from frr.conf (docs/anycast.md)."""
    from lbdeploy.ops.withdraw import held_out_note

    help_text = " ".join(
        CliRunner().invoke(app, ["withdraw", "--help"], terminal_width=200).output.split()
    )
    assert "a restart of FRR or a reboot" in help_text
    note = held_out_note("hera")
    assert "withdraw --back --node hera" in note
    assert "restart of FRR" in note and "reboot" in note
