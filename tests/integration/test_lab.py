"""The lab is real: SSH with verified host keys reaches both nodes, backends answer."""

from __future__ import annotations

import urllib.request

import paramiko
import pytest

from lab import lab as labmod


def connect(lab: labmod.Lab, node: labmod.LabNode, user: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=node.ssh_port,
        username=user,
        key_filename=str(lab.identity_file),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    return client


def run(client: paramiko.SSHClient, command: str, stdin: str = "") -> tuple[int, str]:
    chan_in, out, err = client.exec_command(command, timeout=30)
    if stdin:
        chan_in.write(stdin)
        chan_in.channel.shutdown_write()
    status = out.channel.recv_exit_status()
    return status, out.read().decode() + err.read().decode()


@pytest.mark.parametrize("node", labmod.NODES, ids=[n.name for n in labmod.NODES])
def test_ssh_reaches_node_with_its_name_and_public_address(
    lab: labmod.Lab, node: labmod.LabNode
) -> None:
    with connect(lab, node, "deploy") as client:
        assert run(client, "hostname") == (0, f"{node.name}\n")
        status, out = run(client, "ip -4 -o addr show dev eth1")
        assert status == 0 and f"inet {node.public_address}/24" in out
        assert run(client, "sudo -n id -u") == (0, "0\n")
        status, out = run(client, "sudo -n sysctl -w net.ipv4.ip_nonlocal_bind=1")
        assert (status, out.strip()) == (0, "net.ipv4.ip_nonlocal_bind = 1")
        status, _ = run(client, "command -v haproxy || command -v keepalived")
        assert status != 0, "the image must not carry haproxy or keepalived"


def test_root_logs_in_by_key(lab: labmod.Lab) -> None:
    with connect(lab, labmod.NODES[0], "root") as client:
        assert run(client, "id -u") == (0, "0\n")


def test_second_user_needs_a_password_for_sudo(lab: labmod.Lab) -> None:
    with connect(lab, labmod.NODES[0], "ops") as client:
        status, out = run(client, "sudo -n true")
        assert status != 0 and "password" in out
        assert run(client, "sudo -S -p '' id -u", stdin=labmod.OPS_PASSWORD + "\n") == (0, "0\n")


def test_each_node_has_its_own_host_key(lab: labmod.Lab) -> None:
    keys = {}
    for line in lab.known_hosts.read_text().splitlines():
        name, _, key = line.split()
        keys[name] = key
    hosts = [*labmod.NODES, labmod.BASTION]
    loopback = {keys[f"[127.0.0.1]:{h.ssh_port}"] for h in hosts}
    assert len(loopback) == len(hosts)  # every host its own key
    for host in hosts:  # the same key under the name a route through the bastion dials
        assert keys[host.mgmt_address] == keys[f"[127.0.0.1]:{host.ssh_port}"]


def test_unknown_host_key_is_refused(lab: labmod.Lab, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    client = paramiko.SSHClient()
    client.load_host_keys(str(empty))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(
            "127.0.0.1",
            port=labmod.NODES[0].ssh_port,
            username="deploy",
            key_filename=str(lab.identity_file),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )


@pytest.mark.parametrize("name", sorted(labmod.BACKENDS))
def test_backend_answers_with_its_name(lab: labmod.Lab, name: str) -> None:
    url = f"http://{labmod.BACKENDS[name]}:8080/"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read().decode() == f"{name}\n"


@pytest.mark.destructive
def test_pristine_nodes_get_new_host_keys(lab: labmod.Lab) -> None:
    before = lab.known_hosts.read_text()
    labmod.reset_nodes(lab)
    after = lab.known_hosts.read_text()
    assert before != after
    with connect(lab, labmod.NODES[1], "deploy") as client:
        assert run(client, "hostname") == (0, "afrodita\n")
