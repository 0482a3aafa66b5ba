"""SSH as an operator's machine has it: ssh_config aliases through a bastion, a key that
lives only in ssh-agent, a key behind a passphrase; every hop's host key verified."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import lbdeploy, sh, up_json, write_inventory

INVENTORY = """\
ssh:
  config_file: {config}
  known_hosts: {known_hosts}
nodes:
  hera:     {{host: lab-hera, address: 172.29.150.11}}
  afrodita: {{host: lab-afrodita, address: 172.29.150.12}}
"""


def ssh_config(key: Path | None) -> str:
    identity = f"    IdentityFile {key}\n" if key else ""
    return (
        "Host lab-bastion\n    HostName 127.0.0.1\n    Port 2200\n    User deploy\n"
        + identity
        + "Host lab-hera lab-afrodita\n    User deploy\n    ProxyJump lab-bastion\n"
        + identity
        + "Host lab-hera\n    HostName 172.29.149.11\n"
        + "Host lab-afrodita\n    HostName 172.29.149.12\n"
    )


def via_bastion(lab: labmod.Lab, tmp: Path, key: Path | None, known_hosts: Path) -> Path:
    """The lab inventory, but every node an ssh_config alias reached through the bastion."""
    (tmp / "ssh_config").write_text(ssh_config(key))
    base = write_inventory(tmp, lab).read_text()
    rest = base[base.index("interface:") :]
    head = INVENTORY.format(config=tmp / "ssh_config", known_hosts=known_hosts)
    path = tmp / "bastion.yaml"
    path.write_text(head + rest)
    return path


@pytest.fixture(scope="module")
def converged(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> labmod.Lab:
    code, report = up_json(write_inventory(tmp_path_factory.mktemp("direct"), lab))
    assert code == 0, report
    return lab


def test_nodes_are_reached_only_through_the_bastion(converged: labmod.Lab, tmp_path) -> None:
    lab = converged
    inventory = via_bastion(lab, tmp_path, lab.identity_file, lab.known_hosts)
    code, report = up_json(inventory, "--stats")
    assert code == 0, report
    for name in ("hera", "afrodita"):
        node = report["nodes"][name]
        assert node["changed"] == 0 and node["stats"]["connections"] == 2  # bastion + node
        log = sh(name, "journalctl -u ssh -o cat --no-pager | grep 'Accepted publickey' | tail -1")
        assert f"from {labmod.BASTION.mgmt_address} " in log, log


def test_an_unknown_bastion_key_stops_the_run_before_any_change(
    converged: labmod.Lab, tmp_path: Path
) -> None:
    lab = converged
    known = tmp_path / "known_hosts"
    known.write_text(
        "".join(
            line + "\n"
            for line in lab.known_hosts.read_text().splitlines()
            if not line.startswith("[127.0.0.1]:2200 ")
        )
    )
    inventory = via_bastion(lab, tmp_path, lab.identity_file, known)
    result = lbdeploy("up", str(inventory))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "the host key of [127.0.0.1]:2200 (jump host lab-bastion) is not in" in output
    assert "nothing was changed" in output
    for name in ("hera", "afrodita"):
        assert "lbdeploy.lock" not in sh(name, "ls /run")


@pytest.fixture
def agent(converged: labmod.Lab, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real ssh-agent holding the lab key, and an empty HOME: no key file anywhere else."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        env = {"SSH_AUTH_SOCK": str(sock), "HOME": str(tmp_path / "home")}
        for _ in range(50):
            if sock.exists():
                break
            proc.wait(timeout=0.1) if proc.poll() is not None else None
            subprocess.run(["sleep", "0.1"], check=True)
        subprocess.run(
            ["ssh-add", "-q", str(converged.identity_file)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_key_that_lives_only_in_ssh_agent(
    converged: labmod.Lab, agent: dict[str, str], tmp_path: Path
) -> None:
    inventory = via_bastion(converged, tmp_path, None, converged.known_hosts)
    result = lbdeploy("up", str(inventory), "--json", env=agent)
    assert result.returncode == 0, result.stdout + result.stderr
    without = lbdeploy("up", str(inventory), env={"HOME": agent["HOME"]})
    output = without.stdout + without.stderr
    assert without.returncode == 1, output  # no agent, no key file: refused, nothing changed
    assert "No authentication methods available" in output


@pytest.fixture
def passphrase_key(converged: labmod.Lab, tmp_path: Path) -> Iterator[Path]:
    """A key protected by a passphrase, authorized for deploy on every lab host."""
    key = tmp_path / "id_locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", str(key)], check=True
    )
    authorized = converged.state_dir / "authorized_keys" / "deploy"
    before = authorized.read_text()
    authorized.write_text(before + key.with_suffix(".pub").read_text())
    try:
        yield key
    finally:
        authorized.write_text(before)


def test_a_passphrase_protected_key_is_unlocked_once(
    converged: labmod.Lab, passphrase_key: Path, tmp_path: Path
) -> None:
    inventory = via_bastion(converged, tmp_path, passphrase_key, converged.known_hosts)
    home = {"HOME": str(tmp_path / "home")}
    refused = lbdeploy("up", str(inventory), env=home)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "protected by a passphrase: run with --ask-key-pass" in output
    result = lbdeploy("up", str(inventory), "--ask-key-pass", stdin="open sesame\n", env=home)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "open sesame" not in output


def init(lab: labmod.Lab, out: Path, vip: str, *extra: str, known: Path | None = None):  # type: ignore[no-untyped-def]
    return lbdeploy(
        "init",
        "deploy@127.0.0.1:2201",
        "deploy@127.0.0.1:2202",
        "--vip",
        vip,
        "--identity",
        str(lab.identity_file),
        "--known-hosts",
        str(known or lab.known_hosts),
        "--out",
        str(out),
        *extra,
    )


def test_init_writes_an_inventory_that_validates_and_converges(
    converged: labmod.Lab, tmp_path: Path
) -> None:
    out = tmp_path / "inventory.yaml"
    first = init(converged, out, "172.29.150.150")
    assert first.returncode == 0, first.stdout + first.stderr
    text = out.read_text()
    print("\n" + first.stdout)
    assert (
        "virtual_router_id: 50" in text
        and "interface: {name: eth1, netmask: 255.255.255.0}" in text
    )
    assert "hera: {host: 127.0.0.1, port: 2201, user: deploy, address: 172.29.150.11}" in text
    again = init(converged, out, "172.29.150.150", "--force")
    assert again.returncode == 0 and out.read_text() == text  # the same proposal
    env = {"LB_VRRP_PASS": "lab-vrrp", "LB_STATS_PASS": "lab-stats"}
    assert lbdeploy("validate", str(out), env=env).returncode == 0
    code = lbdeploy("up", str(out), env=env)
    assert code.returncode == 0, code.stdout + code.stderr
    busy = init(converged, tmp_path / "busy.yaml", "172.29.150.21")
    assert busy.returncode == 2 and "already answers on the network" in busy.stderr
    assert up_json(write_inventory(tmp_path, converged))[0] == 0


def test_init_records_new_host_keys_only_when_asked(converged: labmod.Lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    refused = init(converged, tmp_path / "a.yaml", "172.29.150.150", known=known)
    assert refused.returncode != 0 and "is not in" in refused.stderr
    trusted = init(
        converged, tmp_path / "b.yaml", "172.29.150.150", "--trust-new-host-keys", known=known
    )
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert known.read_text().count("[127.0.0.1]:220") == 2
