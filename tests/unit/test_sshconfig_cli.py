"""No inventory makes lbdeploy run a local command: commands that never connect read no SSH
configuration at all, and an ssh_config is read as `ssh -G -F FILE` reads it, or refused
at its line before anything is looked up (exit 2, nothing touched)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbdeploy.cli.app import app

ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw", "COLUMNS": "200"}
INVENTORY = """\
ssh: {ssh}
nodes:
  hera:     {{host: lb-hera, address: 192.0.2.11}}
  afrodita: {{host: lb-afrodita, address: 192.0.2.12}}
interface: {{name: eth1, netmask: 255.255.255.0}}
vrrp: {{virtual_router_id: 50, vip: 192.0.2.150}}
"""


def inventory(tmp_path: Path, ssh: str = "{}") -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.format(ssh=ssh))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.output


def exec_line(marker: Path) -> str:
    """A Match line that leaves `marker` behind if anything ever runs it."""
    return f'Match exec "touch {marker}"\n    User ran\n'


@pytest.mark.parametrize("command", ["validate", "render"])
def test_offline_commands_read_no_ssh_config(command: str, tmp_path: Path, home: Path) -> None:
    marker = tmp_path / "ran"
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text(exec_line(marker))  # the default config_file
    (tmp_path / "ssh_config").write_text(exec_line(marker))
    extra = ["--out", str(tmp_path / "out")] if command == "render" else []
    for ssh in ("{}", "{config_file: ssh_config}", "{config_file: /dev/null/nothing}"):
        code, output = run(command, str(inventory(tmp_path, ssh)), *extra)
        assert code == 0, output
        assert not marker.exists(), f"{command} with ssh: {ssh} ran a command from ssh_config"


def test_validate_says_its_ssh_column_comes_before_ssh_config(tmp_path: Path) -> None:
    code, output = run("validate", str(inventory(tmp_path, "{user: deploy}")))
    assert code == 0, output
    assert "ssh (before ssh_config)" in output and "deploy@lb-hera:22 (sudo)" in output


@pytest.mark.parametrize("command", [["status"], ["up", "--check"], ["verify"]])
def test_a_command_that_connects_refuses_match_exec_before_any_lookup(
    command: list[str], tmp_path: Path, home: Path
) -> None:
    marker = tmp_path / "ran"
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text("Host lb-*\n    User deploy\n" + exec_line(marker))
    code, output = run(*command, str(inventory(tmp_path)))
    assert (code, output) == (
        2,
        "error: ~/.ssh/config:3: Match exec is not supported: it would run a local command;"
        " lbdeploy never runs one from ssh_config (select the hosts with Host patterns, or"
        " name an ssh_config without it in ssh.config_file, false: none)\n",
    )
    assert not marker.exists()


def test_init_refuses_match_exec_in_the_operators_ssh_config(tmp_path: Path, home: Path) -> None:
    marker = tmp_path / "ran"
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text(exec_line(marker))
    out = tmp_path / "inventory.yaml"
    code, output = run("init", "lb-hera", "lb-afrodita", "--vip", "192.0.2.150", "--out", str(out))
    assert code == 2 and output.startswith("error: ~/.ssh/config:1: Match exec is not supported")
    assert not marker.exists() and not out.exists()


def test_commands_that_ssh_config_names_never_run(tmp_path: Path) -> None:
    """paramiko and lbdeploy run none of them: the route is computed, the connection tried."""
    marks = {name: tmp_path / name for name in ("local", "known_hosts")}
    (tmp_path / "ssh_config").write_text(
        "Host lb-*\n"
        "    HostName 192.0.2.20\n"
        "    PermitLocalCommand yes\n"
        f"    LocalCommand touch {marks['local']}\n"
        f"    KnownHostsCommand /bin/sh -c 'touch {marks['known_hosts']}'\n"
        "    ProxyCommand none\n"
    )
    code, output = run("status", str(inventory(tmp_path, "{config_file: ssh_config}")))
    assert code == 3, output  # unreachable: a unit test opens no connection
    assert "root@192.0.2.20:22" in output
    assert [m for m in marks.values() if m.exists()] == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("Host lb-*\n    Port abc\n", "2: Bad port 'abc': Port takes a number 1..65535"),
        ("Host lb-*\n    Port 0\n", "2: Bad port '0': Port takes a number 1..65535"),
        (
            "Host lb-*\n    ProxyCommand ssh -W %h:%p bastion\n",
            "2: ProxyCommand is not supported: lbdeploy never runs a local command; reach the"
            " node with ProxyJump, or name an ssh_config for these nodes in ssh.config_file"
            " (false: none)",
        ),
        (
            "Include lb.conf\n",
            "1: Include is not supported: lbdeploy reads one ssh_config file, as `ssh -F FILE`"
            " does; copy what lb.conf holds into this file",
        ),
    ],
    ids=["port-word", "port-zero", "proxycommand", "include"],
)
def test_an_ssh_config_read_otherwise_stops_a_command_that_connects(
    config: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "ssh_config").write_text(config)
    (tmp_path / "lb.conf").write_text("Host lb-*\n    User deploy\n")
    code, output = run("status", str(inventory(tmp_path, "{config_file: ssh_config}")))
    assert (code, output) == (2, f"error: {tmp_path}/ssh_config:{message}\n")


def test_a_named_ssh_config_must_exist_the_default_may_not(tmp_path: Path) -> None:
    path = inventory(tmp_path, "{config_file: ~/.ssh/config}")
    code, output = run("status", str(path))
    assert (code, output) == (
        2,
        f"error: {path}:1:20: ssh.config_file: ~/.ssh/config does not exist; false or null:"
        " read no ssh_config\n",
    )
    code, output = run("status", str(inventory(tmp_path)))  # the default, absent: none
    assert code == 3 and "root@lb-hera:22" in output, output


def test_a_directory_is_no_ssh_config(tmp_path: Path, home: Path) -> None:
    (tmp_path / "configs").mkdir()
    path = inventory(tmp_path, "{config_file: configs}")
    code, output = run("status", str(path))
    assert (code, output) == (
        2,
        f"error: {path}:1:20: ssh.config_file: {tmp_path}/configs is a directory, not an"
        " ssh_config file; false or null: read no ssh_config\n",
    )
    (home / ".ssh" / "config").mkdir(parents=True)
    code, output = run("status", str(inventory(tmp_path)))  # the default: at `ssh:`
    assert (code, output) == (
        2,
        f"error: {path}:1:6: ssh.config_file: ~/.ssh/config is a directory, not an ssh_config"
        " file; false or null: read no ssh_config\n",
    )


@pytest.mark.parametrize("none", ["null", "~", "false"])
def test_null_or_false_reads_no_ssh_config(none: str, tmp_path: Path, home: Path) -> None:
    marker = tmp_path / "ran"
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text(exec_line(marker) + "Host lb-*\n    Port 2200\n")
    code, output = run("status", str(inventory(tmp_path, f"{{config_file: {none}}}")))
    assert code == 3 and "root@lb-hera:22" in output, output
    assert not marker.exists()
