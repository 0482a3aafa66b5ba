"""One bench directory: the inventory each tool reads for a set of nodes, and the files
lbdeploy renders from it (the peers deploy exactly those, so the configs are identical)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lab import lab as labmod

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
FIRST_SERVER = "{name: web1, address: 172.29.150.21, port: 8080}"


def lbdeploy_command(*args: str) -> list[str]:
    """The console script beside this interpreter, as an operator runs it."""
    return [str(Path(sys.executable).with_name("lbdeploy")), *args]


@dataclass
class Workspace:
    """Inventories for the same nodes in each tool's format, under one directory."""

    lab: labmod.Lab
    directory: Path
    nodes: tuple[labmod.LabNode, ...]
    weight: int | None = None  # web1's weight; None: as in inventories/lab.yaml

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yaml"

    @property
    def rendered(self) -> Path:
        return self.directory / "rendered"

    def write(self) -> None:
        """Write every tool's inventory and render the files the peers deploy."""
        self.directory.mkdir(parents=True, exist_ok=True)
        text = (ROOT / "inventories" / "lab.yaml").read_text()
        text = text.replace("../.lab/", f"{self.lab.state_dir}/")
        head, rest = text.split("nodes:\n", 1)
        rest = rest[rest.index("interface:") :]
        nodes = "".join(
            f"  {n.name}: {{host: 127.0.0.1, port: {n.ssh_port}, address: {n.public_address}}}\n"
            for n in self.nodes
        )
        if self.weight is not None:
            server = FIRST_SERVER[:-1] + f", weight: {self.weight}}}"
            rest = rest.replace(FIRST_SERVER, server)
        self.inventory.write_text(f"{head}nodes:\n{nodes}{rest}")
        self._render()
        self._write_ansible()
        self._write_pyinfra()

    def forget_connections(self) -> None:
        """Drop Ansible's master connections to nodes that were just replaced."""
        shutil.rmtree(self.directory / "cp", ignore_errors=True)

    def _render(self) -> None:
        if self.rendered.exists():
            shutil.rmtree(self.rendered)
        subprocess.run(
            lbdeploy_command("render", str(self.inventory), "--out", str(self.rendered)),
            capture_output=True,
            check=True,
            timeout=120,
        )

    def _shared(self) -> dict[str, object]:
        return {
            "rendered": str(self.rendered),
            "iface": "eth1",
            "vip": labmod.VIP,
        }

    def _write_ansible(self) -> None:
        ssh = (
            f"-o UserKnownHostsFile={self.lab.known_hosts} -o StrictHostKeyChecking=yes"
            " -o IdentitiesOnly=yes"
        )
        hosts = {
            n.name: {
                "ansible_host": "127.0.0.1",
                "ansible_port": n.ssh_port,
                "node_address": n.public_address,
            }
            for n in self.nodes
        }
        shared = {
            **self._shared(),
            "ansible_user": "deploy",
            "ansible_ssh_private_key_file": str(self.lab.identity_file),
            "ansible_ssh_extra_args": ssh,
        }
        inventory = {"lb": {"hosts": hosts, "vars": shared}}
        (self.directory / "ansible-inventory.json").write_text(json.dumps(inventory, indent=1))

    def _write_pyinfra(self) -> None:
        hosts = [
            (
                n.name,
                {
                    "ssh_hostname": "127.0.0.1",
                    "ssh_port": n.ssh_port,
                    "ssh_user": "deploy",
                    "ssh_key": str(self.lab.identity_file),
                    "ssh_known_hosts_file": str(self.lab.known_hosts),
                    "ssh_strict_host_key_checking": "yes",
                    "_sudo": True,
                    "node_address": n.public_address,
                    **self._shared(),
                },
            )
            for n in self.nodes
        ]
        text = f"lb = {hosts!r}\n"
        (self.directory / "pyinfra_inventory.py").write_text(text)
