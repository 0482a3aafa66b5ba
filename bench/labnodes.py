"""The bench's nodes: the lab's pair, plus extra nodes from the same image for the scale
scenario (started by the bench only, always removed), and what sshd says about each."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from lab import lab as labmod

LABEL = "lbdeploy-bench"
FIRST_PORT = 2211  # 127.0.0.1:2211.. ; addresses .101.. on both lab networks
T = TypeVar("T")
R = TypeVar("R")


def pmap(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`work` on every item at once (docker commands are slow one by one)."""
    listed = list(items)
    with ThreadPoolExecutor(max_workers=max(1, min(len(listed), 16))) as pool:
        return list(pool.map(work, listed))


def extra_nodes(count: int) -> tuple[labmod.LabNode, ...]:
    """`count` more load-balancer nodes beside hera and afrodita."""
    return tuple(
        labmod.LabNode(
            f"bench{i:02d}", FIRST_PORT + i - 1, f"172.29.150.{100 + i}", f"172.29.149.{100 + i}"
        )
        for i in range(1, count + 1)
    )


def _docker(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def start_extra(lab: labmod.Lab, nodes: tuple[labmod.LabNode, ...]) -> None:
    """Run each node as the compose file runs hera: same image, capabilities, both networks."""

    def start(node: labmod.LabNode) -> None:
        name = f"{labmod.PROJECT}_{node.name}_1"
        _docker(
            "run", "-d", "--name", name, "--hostname", node.name, "--label", LABEL,
            "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--cap-add", "SYS_ADMIN",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            "-v", f"{lab.state_dir}/authorized_keys:/etc/ssh/lab_authorized_keys:ro",
            "--stop-signal", "SIGRTMIN+3",
            "--network", f"{labmod.PROJECT}_mgmt", "--ip", node.mgmt_address,
            "-p", f"127.0.0.1:{node.ssh_port}:22",
            lab.image, "/sbin/init",
        )  # fmt: skip
        _docker("network", "connect", "--ip", node.public_address, f"{labmod.PROJECT}_public", name)

    pmap(start, nodes)
    labmod.await_nodes(lab, nodes, timeout=180)


def remove_extra() -> None:
    """Remove every container the bench started (also those a killed run left behind)."""
    found = _docker("ps", "-aq", "--filter", f"label={LABEL}").split()
    if found:
        _docker("rm", "-f", *found, timeout=300)


def accepted_logins(nodes: Iterable[labmod.LabNode]) -> dict[str, int]:
    """How many SSH connections each node's sshd has accepted so far (its journal)."""

    def count(node: labmod.LabNode) -> int:
        result = labmod.node_exec(
            node.name, "journalctl -u ssh -o cat --no-pager | grep -c 'Accepted publickey' || true"
        )
        return int(result.stdout.strip() or 0)

    listed = list(nodes)
    return dict(zip([n.name for n in listed], pmap(count, listed), strict=True))
