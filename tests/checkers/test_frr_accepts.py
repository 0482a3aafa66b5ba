"""Every golden frr.conf passes FRR's own checker, and adding a VIP touches no session.

Needs Debian's frr and frr-pythontools on this machine (lab/ensure-docker.sh installs
them). Nothing here starts a daemon: `vtysh --dryrun` parses a file with every
daemon's commands and runs none, and `frr-reload.py --test --input OLD NEW` computes
the lines a reload would send from two files alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lbdeploy.components.frr import FRR_CONF, FRR_RELOAD, GATE_UNIT
from lbdeploy.core.desired import derive
from lbdeploy.core.render import render_node
from lbdeploy.inventory.load import parse_inventory

pytestmark = pytest.mark.daemons

RENDER = Path(__file__).parent.parent / "unit" / "data" / "render"
FRR_FILES = sorted(RENDER.glob("*/expected/*/etc/frr/frr.conf"))
GATE_FILES = sorted(RENDER.glob(f"*/expected/*{GATE_UNIT}"))
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw", "LB_BGP_PASS": "bgp-md5-pw"}


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.relative_to(RENDER).parts[0]}-{p.relative_to(RENDER).parts[2]}" for p in paths]


def _needs(tool: str) -> None:
    # A checker that is not there must fail, not skip: lab/ensure-docker.sh installs it.
    assert shutil.which(tool) or Path(tool).exists(), (
        f"{tool} is not installed (bash lab/ensure-docker.sh installs frr frr-pythontools)"
    )


def dryrun(path: Path) -> subprocess.CompletedProcess[str]:
    _needs("vtysh")
    return subprocess.run(
        ["vtysh", "--dryrun", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_there_are_files_to_check() -> None:
    assert len(FRR_FILES) >= 5 and len(GATE_FILES) >= 5


@pytest.mark.parametrize("path", FRR_FILES, ids=_ids(FRR_FILES))
def test_vtysh_accepts_rendered_config(path: Path) -> None:
    result = dryrun(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_vtysh_refuses_a_broken_config(tmp_path: Path) -> None:
    """The validator's failure is real: a BFD interval below FRR's 10 ms is refused."""
    broken = tmp_path / "frr.conf"
    broken.write_text(
        FRR_FILES[0].read_text().replace("receive-interval 100", "receive-interval 5")
    )
    result = dryrun(broken)
    assert result.returncode != 0
    assert "receive-interval 5" in result.stdout + result.stderr


def _rendered(text: str, case: Path) -> str:
    inv = parse_inventory(text, "inventory.yaml", ENV, base=case)
    desired = derive(inv, case)
    return render_node(desired.pair, desired.nodes[0])[FRR_CONF].content


def test_adding_a_vip_reloads_only_its_lines_and_no_neighbor(tmp_path: Path) -> None:
    """frr-reload.py sends only the delta: a new VIP is a prefix-list entry and a network
    line; no neighbor line is removed or re-added, so no session is reset."""
    _needs(FRR_RELOAD)
    case = RENDER / "anycast"
    text = (case / "inventory.yaml").read_text()
    old, new = tmp_path / "old.conf", tmp_path / "new.conf"
    old.write_text(_rendered(text, case))
    vip = "  - vip: 198.51.100.10\n"
    new.write_text(_rendered(text.replace(vip, vip + "  - vip: 198.51.100.20\n"), case))
    result = subprocess.run(
        [FRR_RELOAD, "--test", "--input", str(old), str(new)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    delta = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert "Lines To Delete" not in delta
    sent = delta[delta.index("Lines To Add") + 2 :]
    assert sent == [
        "router bgp 65101",
        "address-family ipv4 unicast",
        "network 198.51.100.20/32",
        "ip prefix-list lbdeploy-anycast4 seq 20 permit 198.51.100.20/32",
    ]


@pytest.mark.parametrize("path", GATE_FILES, ids=_ids(GATE_FILES))
def test_systemd_accepts_the_anycast_gate(path: Path, tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze is not installed (systemd)"
    unit = tmp_path / Path(GATE_UNIT).name
    unit.write_text(path.read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
