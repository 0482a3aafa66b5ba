"""SSH routes as OpenSSH would take them: aliases, ProxyJump chains, precedence.

Each case under data/ssh_config_ok/ is an ssh_config headed by `# route ALIAS: user@host:port
...` lines, the hops `ssh -G -F FILE` gives (tests/checkers/test_ssh_config_agrees.py asks
the local ssh); each under data/ssh_config_errors/ is one that lbdeploy refuses, headed by
`# expect:` lines with the exact messages ({file} stands for its name).
"""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from lbdeploy.core.desired import derive
from lbdeploy.core.targets import Explicit, Hop, route
from lbdeploy.errors import SshConfigError, UsageError
from lbdeploy.exitcodes import ExitCode
from lbdeploy.inventory.load import parse_inventory
from lbdeploy.remote.sshconfig import parse_config

DATA = Path(__file__).parent / "data"
OK_CASES = sorted((DATA / "ssh_config_ok").glob("*.conf"))
ERROR_CASES = sorted((DATA / "ssh_config_errors").glob("*.conf"))


def routes_of(case: Path) -> dict[str, list[str]]:
    """{alias: ['user@host:port', ...]} from the case's `# route` lines."""
    found = {}
    for line in case.read_text().splitlines():
        if line.startswith("# route "):
            alias, _, hops = line.removeprefix("# route ").partition(": ")
            found[alias] = hops.split()
    return found


def shown(hops: tuple[Hop, ...]) -> list[str]:
    return [f"{h.user}@{h.host}:{h.port}" for h in hops]


@pytest.mark.parametrize("case", OK_CASES, ids=[c.stem for c in OK_CASES])
def test_a_route_is_the_one_ssh_takes(case: Path) -> None:
    config = parse_config(case.read_text(), case.name)
    assert routes_of(case)
    for alias, hops in routes_of(case).items():
        assert shown(route(config, alias, Explicit())) == hops, alias


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.stem for c in ERROR_CASES])
def test_an_ssh_config_read_otherwise_is_refused_at_its_lines(case: Path) -> None:
    expected = [
        line.removeprefix("# expect: ").replace("{file}", case.name)
        for line in case.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    assert expected
    with pytest.raises(SshConfigError) as raised:
        parse_config(case.read_text(), case.name)
    assert str(raised.value).splitlines() == expected
    assert raised.value.exit_code == ExitCode.BAD_INPUT


def test_a_proxyjump_loop_is_refused_with_its_chain() -> None:
    star = "Host bastion\n  HostName 10.0.0.1\nHost *\n  ProxyJump bastion\n"
    with pytest.raises(UsageError, match=r"loop \(lb -> bastion -> bastion\), as OpenSSH"):
        route(parse_config(star, "x"), "lb", Explicit())
    text = "Host a\n  ProxyJump b\nHost b\n  ProxyJump c\nHost c\n  ProxyJump a\n"
    with pytest.raises(UsageError, match=r"the ProxyJump lines loop \(a -> b -> c -> a\)"):
        route(parse_config(text, "x"), "a", Explicit())


def test_a_match_exec_the_check_missed_is_still_refused_before_any_lookup(monkeypatch) -> None:
    """The check reads lines; this second guard reads the blocks paramiko itself parsed."""
    monkeypatch.setattr("lbdeploy.remote.sshconfig.ssh_config_problems", lambda text: [])
    with pytest.raises(SshConfigError, match=r"^x: Match exec is not supported: it would run"):
        parse_config('Host a\n  User u\nMatch host a exec "false"\n  User v\n', "x")


CONFIG = paramiko.SSHConfig.from_text(
    """
Host bastion
    HostName 203.0.113.5
    User jump
    Port 2200
    IdentityFile /keys/jump
Host inner
    HostName 10.0.0.9
Host lb-*
    User deploy
    ProxyJump bastion,admin@inner:2222
Host lb-hera
    HostName 10.0.1.11
Host direct
    HostName 10.0.1.20
    Port 2022
    User ops
    ProxyJump none
"""
)


def test_an_alias_resolves_through_its_jump_chain() -> None:
    hops = route(CONFIG, "lb-hera", Explicit())
    assert [(h.alias, h.host, h.port, h.user) for h in hops] == [
        ("bastion", "203.0.113.5", 2200, "jump"),
        ("inner", "10.0.0.9", 2222, "admin"),  # the ProxyJump item's own user and port win
        ("lb-hera", "10.0.1.11", 22, "deploy"),
    ]
    assert hops[0].identity_files == (Path("/keys/jump"),)
    assert hops[0].known_hosts_name == "[203.0.113.5]:2200"
    assert hops[-1].known_hosts_name == "10.0.1.11"


def test_the_inventory_wins_over_ssh_config_which_wins_over_defaults() -> None:
    hop = route(CONFIG, "direct", Explicit())[-1]
    assert (hop.host, hop.port, hop.user) == ("10.0.1.20", 2022, "ops")
    hop = route(CONFIG, "direct", Explicit(user="root", port=22, identity_file=Path("/k")))[-1]
    assert (hop.port, hop.user, hop.identity_files) == (22, "root", (Path("/k"),))
    hop = route(paramiko.SSHConfig(), "10.0.0.1", Explicit())[-1]
    assert (hop.host, hop.port, hop.user) == ("10.0.0.1", 22, "root")
    assert len(route(CONFIG, "direct", Explicit())) == 1


def test_inventory_defaults_do_not_override_ssh_config_unless_written() -> None:
    base = """
nodes:
  hera: {host: lb-hera, address: 10.0.1.11}
interface: {name: eth1, netmask: 255.255.255.0}
vrrp: {virtual_router_id: 50, vip: 10.0.1.150}
"""
    desired = derive(parse_inventory(base, "inv.yaml", {}), Path("/srv"), CONFIG)
    ssh = desired.nodes[0].ssh
    assert (ssh.user, ssh.port, [h.alias for h in ssh.route]) == (
        "deploy",
        22,
        ["bastion", "inner", "lb-hera"],
    )
    written = base.replace("nodes:", "ssh: {user: root, port: 2201}\nnodes:")
    ssh = derive(parse_inventory(written, "inv.yaml", {}), Path("/srv"), CONFIG).nodes[0].ssh
    assert (ssh.user, ssh.port, ssh.needs_sudo) == ("root", 2201, False)


def test_reading_no_ssh_config_is_said_with_false() -> None:
    text = """
ssh: {config_file: false}
nodes:
  hera: {host: 10.0.1.11}
interface: {name: eth1, netmask: 255.255.255.0}
vrrp: {virtual_router_id: 50, vip: 10.0.1.150}
"""
    assert parse_inventory(text, "inv.yaml", {}).ssh.config_file is False
