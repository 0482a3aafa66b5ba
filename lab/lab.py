"""Start, reset and stop the Docker lab, and hand out what a client needs to reach it.

The lab's host keys are read out of band (docker exec), never trusted on first use,
so the tool's host-key checking stays on in every test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.test.yml"
STATE_DIR = ROOT / ".lab"
PROJECT = "lbdeploy-lab"
USERS = ("root", "deploy", "ops")
OPS_PASSWORD = "lab-ops-pass"  # the lab's password-sudo user; lab only


@dataclass(frozen=True)
class LabNode:
    """A load-balancer node as the tool sees it: SSH on loopback, eth1 on the public net."""

    name: str
    ssh_port: int
    public_address: str
    mgmt_address: str
    public_address6: str = ""
    mgmt_address6: str = ""  # SSH over IPv6: this machine reaches it over the bridge


NODES = (
    LabNode("hera", 2201, "172.29.150.11", "172.29.149.11", "fd00:29:150::11", "fd00:29:149::11"),
    LabNode(
        "afrodita", 2202, "172.29.150.12", "172.29.149.12", "fd00:29:150::12", "fd00:29:149::12"
    ),
)
# The third LB node of the anycast tests; reset and used only by them.
ATENEA = LabNode(
    "atenea", 2203, "172.29.150.13", "172.29.149.13", "fd00:29:150::13", "fd00:29:149::13"
)
LB_NODES = (*NODES, ATENEA)
# A jump host: reaches the nodes' mgmt addresses; holds no public address.
BASTION = LabNode("bastion", 2200, "", "172.29.149.10", "", "fd00:29:149::10")
BACKENDS = {"web1": "172.29.150.21", "web2": "172.29.150.22"}
BACKENDS6 = {"web1": "fd00:29:150::21", "web2": "fd00:29:150::22"}
VIP = "172.29.150.150"
GATEWAY = "172.29.150.1"  # this machine on the public network: the tests' client address
VIP6 = "fd00:29:150::150"
# The anycast side: the router (AS 65000, lab/router/) between the client's edge network
# and the public one; the anycast VIPs are routed, in no lab subnet.
ROUTER = "router"
ROUTER_ADDRESS, ROUTER_ADDRESS6 = "172.29.150.2", "fd00:29:150::2"
CLIENT = "client"
# The lab's services (lab/infra/): an ACME CA and its DNS, and a Prometheus server.
INFRA = "infra"
INFRA_ADDRESS = "172.29.150.5"
ACME_DIRECTORY = f"https://{INFRA_ADDRESS}:14000/dir"
ACME_DNS_MANAGEMENT = f"http://{INFRA_ADDRESS}:8055"
PROMETHEUS = f"http://{INFRA_ADDRESS}:9090"
EDGE, EDGE6 = "172.29.151.0/24", "fd00:29:151::/64"
ANYCAST_NET, ANYCAST_NET6 = "172.29.160.0/24", "fd00:29:160::/64"
ANYCAST_VIP, ANYCAST_VIP6 = "172.29.160.10", "fd00:29:160::10"


@dataclass(frozen=True)
class Lab:
    """Paths of a running lab's client-side material."""

    state_dir: Path
    image: str
    images: dict[str, str] = field(default_factory=dict)  # matrix variant -> image

    @property
    def identity_file(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def acme_ca_bundle(self) -> Path:
        """The certificate of the lab CA's own HTTPS listener: trust for its directory."""
        return self.state_dir / "acme-listener.pem"


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr.strip()[-2000:]}"
        )
    return proc.stdout


def ensure_engine() -> None:
    """Install and start Docker when missing (see lab/ensure-docker.sh)."""
    _run(["bash", str(ROOT / "lab" / "ensure-docker.sh")])


VARIANTS = ("bookworm", "trixie", "trixie-netplan")  # see lab/build-image.sh


def build_image(variant: str = "bookworm") -> str:
    """Build a node image unless a build of the same recipe exists; return its tag."""
    script = str(ROOT / "lab" / "build-image.sh")
    return _run(["bash", script, variant], timeout=900).strip()


def _compose(
    image: str, *args: str, node_images: dict[str, str] | None = None, timeout: float = 300
) -> str:
    """docker-compose on the lab; each LB node may run another image than the default."""
    env = {**os.environ, "LBDEPLOY_LAB_IMAGE": image}
    env["LBDEPLOY_LAB_IMAGE_ROUTER"] = build_image("router")
    env["LBDEPLOY_LAB_IMAGE_INFRA"] = build_image("infra")
    for node in LB_NODES:
        env[f"LBDEPLOY_LAB_IMAGE_{node.name.upper()}"] = (node_images or {}).get(node.name, image)
    return _run(
        ["docker-compose", "-p", PROJECT, "-f", str(COMPOSE_FILE), *args], env=env, timeout=timeout
    )


def _ensure_client_key(state_dir: Path) -> None:
    key = state_dir / "id_ed25519"
    if not key.exists():
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lbdeploy-lab", "-f", str(key)])
    keys_dir = state_dir / "authorized_keys"
    keys_dir.mkdir(exist_ok=True)
    keys_dir.chmod(0o755)
    public = (state_dir / "id_ed25519.pub").read_text()
    for user in USERS:
        path = keys_dir / user
        path.write_text(public)
        path.chmod(0o644)


def _wait_booted(node: str, deadline: float) -> str:
    """Wait for systemd and sshd in the node; return its ed25519 host key line."""
    container = f"{PROJECT}_{node}_1"
    last = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [
                "docker",
                "exec",
                container,
                "sh",
                "-c",
                "systemctl is-active --quiet ssh && cat /etc/ssh/ssh_host_ed25519_key.pub",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        last = proc.stderr.strip() or proc.stdout.strip()
        time.sleep(0.3)
    raise RuntimeError(f"lab node {node} did not start sshd in time: {last}")


def _write_known_hosts(lab: Lab, nodes: tuple[LabNode, ...], keys: dict[str, str]) -> None:
    """Record each host key under the names the tool dials: [127.0.0.1]:PORT, and the
    mgmt addresses (port 22) that a route through the bastion, or IPv6, reaches."""
    lines = {}
    if lab.known_hosts.exists():
        for line in lab.known_hosts.read_text().splitlines():
            if line.strip():
                lines[line.split()[0]] = line
    for node in nodes:
        keytype, keydata = keys[node.name].split()[:2]
        names = (f"[127.0.0.1]:{node.ssh_port}", node.mgmt_address, node.mgmt_address6)
        for name in filter(None, names):
            lines[name] = f"{name} {keytype} {keydata}"
    lab.known_hosts.write_text("".join(f"{line}\n" for line in lines.values()))


def _wait_ssh_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers SSH on 127.0.0.1:{port}")


def _route_edge_via_router(node: LabNode) -> None:
    """The return path of the anycast tests: replies to the client go back through the
    router, as a routed site's default route would send them (the nodes' own default
    route is Docker's gateway, which does not know the edge network)."""
    if node.public_address:
        node_exec(node.name, f"ip route replace {EDGE} via {ROUTER_ADDRESS}", check=True)
        node_exec(node.name, f"ip -6 route replace {EDGE6} via {ROUTER_ADDRESS6}", check=True)


def await_nodes(lab: Lab, nodes: tuple[LabNode, ...], timeout: float = 90) -> None:
    """Wait until each node's sshd answers, then record its host key (read out of band)."""
    deadline = time.monotonic() + timeout
    keys = {node.name: _wait_booted(node.name, deadline) for node in nodes}
    for node in nodes:
        _wait_ssh_port(node.ssh_port, deadline)
        _route_edge_via_router(node)
    _write_known_hosts(lab, nodes, keys)


def await_router(timeout: float = 90) -> None:
    """Wait until the router's bgpd answers vtysh (it then accepts the LB nodes' sessions)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        proc = node_exec(ROUTER, "vtysh -c 'show bgp summary' >/dev/null && echo ready")
        if proc.stdout.strip() == "ready":
            return
        last = proc.stderr.strip() or proc.stdout.strip()
        time.sleep(0.5)
    raise RuntimeError(f"the lab router's bgpd did not answer in time: {last}")


LOCK_FILE = Path("/run/lock/lbdeploy-lab.lock")


@contextlib.contextmanager
def exclusive(timeout: float = 1800) -> Iterator[None]:
    """Hold the machine's lab lock: only one lab (fixed ports, fixed subnets) at a time."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    message = f"another lab run held {LOCK_FILE} for {timeout:.0f} s"
                    raise RuntimeError(message) from None
                if not told:
                    print(f"lab: waiting for another lab run ({LOCK_FILE})", file=sys.stderr)
                    told = True
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def await_infra(lab: Lab, timeout: float = 90) -> None:
    """Wait until the lab's ACME CA and Prometheus answer; keep the CA listener's
    certificate where a lab inventory's `ca_bundle` points."""
    deadline = time.monotonic() + timeout
    probe = (
        "curl -sfk -o /dev/null https://127.0.0.1:14000/dir"
        " && curl -sf -o /dev/null http://127.0.0.1:9090/-/ready"
        " && cat /etc/pebble/listener.pem"
    )
    last = ""
    while time.monotonic() < deadline:
        proc = node_exec(INFRA, probe)
        if proc.returncode == 0 and "BEGIN CERTIFICATE" in proc.stdout:
            lab.acme_ca_bundle.write_text(proc.stdout)
            return
        last = proc.stderr.strip() or proc.stdout.strip()
        time.sleep(0.5)
    raise RuntimeError(f"the lab's ACME CA or Prometheus did not answer in time: {last}")


def _route_anycast_via_router() -> None:
    """This machine reaches the anycast VIPs through the router, as an operator's machine
    in a routed site does; without this route they would follow the default route off
    this machine, where something else may answer."""
    _run(["ip", "route", "replace", ANYCAST_NET, "via", ROUTER_ADDRESS])
    _run(["ip", "-6", "route", "replace", ANYCAST_NET6, "via", ROUTER_ADDRESS6])


def up(state_dir: Path = STATE_DIR) -> Lab:
    """Start the whole lab from scratch (engine, image, containers) and wait until SSH answers."""
    ensure_engine()
    lab = Lab(state_dir=state_dir, image=build_image())
    _ensure_client_key(state_dir)
    if lab.known_hosts.exists():
        lab.known_hosts.unlink()
    _compose(lab.image, "down", "--volumes", "--remove-orphans")
    _compose(lab.image, "up", "-d", "--force-recreate")
    await_nodes(lab, (*LB_NODES, BASTION))
    await_router()
    await_infra(lab)
    _route_anycast_via_router()
    return lab


def reset_nodes(
    lab: Lab, names: tuple[str, ...] | None = None, images: dict[str, str] | None = None
) -> None:
    """Replace nodes with pristine containers (new host keys, nothing installed).

    `images` runs a node from another image (a matrix variant); the others get the
    default one back.
    """
    nodes = tuple(n for n in LB_NODES if n.name in names) if names else NODES
    names_up = [n.name for n in nodes]
    _compose(lab.image, "up", "-d", "--force-recreate", "--no-deps", *names_up, node_images=images)
    await_nodes(lab, nodes)


def down(lab: Lab) -> None:
    """Remove every lab container and network."""
    _compose(lab.image, "down", "--volumes", "--remove-orphans", "--timeout", "5")


def node_exec(
    node: str, command: str, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a shell command inside a lab node as root, bypassing SSH (for test assertions)."""
    proc = subprocess.run(
        ["docker", "exec", f"{PROJECT}_{node}_1", "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{node}: {command} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc
