"""VRRP and anycast side by side on one lab run: HAProxy death, a frozen node, a planned move.

Run: .venv/bin/python -m bench.sidebyside   (takes the lab lock, starts the lab, stops it)

- VRRP (the pair of inventories/lab.yaml): `failover-test` (HAProxy stopped on the master:
  seconds until the VIP serves from the backup); `docker pause` of the master (seconds
  until the backup holds the VIP); `switchover --to afrodita` and `--back` under a 4-thread
  load from the lab's client (failed requests).
- anycast (the three nodes of inventories/lab-anycast.yaml): HAProxy stopped on a node
  (seconds until the router drops its nexthop); `docker pause` of a node (the same, BFD);
  `withdraw --node atenea` and `--back` under the same load (failed requests each way).

Every figure is measured with the host's clock; every loop is bounded. Prints a table.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.failover import lbdeploy as run_lbdeploy
from lab import lab as labmod
from lab.probes import client_load, load_results, router_watch, wait_nexthops, watched

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3
LOAD_S = 16


# Three nodes converge from bare here: a longer bound than bench.failover's.
lbdeploy = partial(run_lbdeploy, timeout=600)


def inventory(lab: labmod.Lab, name: str) -> Path:
    text = (ROOT / "inventories" / name).read_text().replace("../.lab/", f"{lab.state_dir}/")
    path = Path(tempfile.mkdtemp()) / name
    path.write_text(text)
    return path


def figures(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def holders(vip: str) -> list[str]:
    found = []
    for node in labmod.NODES:
        out = labmod.node_exec(node.name, "ip -o addr show dev eth1").stdout
        if f"inet {vip}/" in out:
            found.append(node.name)
    return found


def wait_holders(expected: list[str], timeout: float = 30) -> float:
    start = time.monotonic()
    while holders(labmod.VIP) != expected:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"VIP not on {expected} within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, timeout=60, capture_output=True)


def under_load(url: str, action: object) -> tuple[int, int]:
    """Run `action()` in the middle of a bounded 4-thread load: (requests, failed)."""
    load = client_load(url, LOAD_S)
    time.sleep(3)
    action()  # type: ignore[operator]
    results = load_results(load, timeout=LOAD_S + 60)
    return len(results), sum(1 for _, code in results if code != "200")


def vrrp(lab: labmod.Lab) -> dict[str, str]:
    labmod.reset_nodes(lab)
    path = inventory(lab, "lab.yaml")
    lbdeploy("up", str(path))
    # The client reaches the VRRP VIP through the router too (it routes edge <-> public).
    labmod.node_exec(labmod.CLIENT, f"ip route replace {labmod.VIP}/32 via 172.29.151.2")
    death = [lbdeploy("failover-test", str(path))["failover_seconds"] for _ in range(RUNS)]
    frozen = []
    for _ in range(RUNS):
        wait_holders(["hera"])
        docker("pause", f"{labmod.PROJECT}_hera_1")
        frozen.append(wait_holders(["afrodita"]))
        docker("unpause", f"{labmod.PROJECT}_hera_1")
    wait_holders(["hera"])
    url = f"http://{labmod.VIP}/"
    away = under_load(url, lambda: lbdeploy("switchover", str(path), "--to", "afrodita"))
    back = under_load(url, lambda: lbdeploy("switchover", str(path), "--back"))
    return {
        "haproxy dies": f"VIP serves from the backup after {figures(death)}",
        "node frozen": f"the backup holds the VIP after {figures(frozen)}",
        "planned move": f"switchover: {away[1]}/{away[0]} failed; --back: {back[1]}/{back[0]}",
    }


def anycast(lab: labmod.Lab) -> dict[str, str]:
    nodes = tuple(n.name for n in labmod.LB_NODES)
    address = {n.name: n.public_address for n in labmod.LB_NODES}
    everyone = set(address.values())
    labmod.reset_nodes(lab, nodes)
    path = inventory(lab, "lab-anycast.yaml")
    lbdeploy("up", str(path))
    vip = labmod.ANYCAST_VIP
    death, frozen = [], []
    for _ in range(RUNS):
        wait_nexthops(vip, everyone, timeout=30)
        watcher = router_watch(vip, address["hera"], timeout=10)
        time.sleep(0.3)
        at = time.time()
        labmod.node_exec("hera", "systemctl stop haproxy")
        death.append(watched(watcher, at, timeout=10))
        labmod.node_exec("hera", "systemctl start haproxy")
    for _ in range(RUNS):
        wait_nexthops(vip, everyone, timeout=30)
        watcher = router_watch(vip, address["atenea"], timeout=10)
        time.sleep(0.3)
        docker("pause", f"{labmod.PROJECT}_atenea_1")
        frozen.append(watched(watcher, time.time(), timeout=10))
        docker("unpause", f"{labmod.PROJECT}_atenea_1")
    wait_nexthops(vip, everyone, timeout=60)
    url = f"http://{vip}/"
    out = under_load(url, lambda: lbdeploy("withdraw", str(path), "--node", "atenea"))
    back = under_load(url, lambda: lbdeploy("withdraw", str(path), "--node", "atenea", "--back"))
    return {
        "haproxy dies": f"the router drops the node after {figures(death)}",
        "node frozen": f"the router drops the node after {figures(frozen)} (BFD)",
        "planned move": f"withdraw: {out[1]}/{out[0]} failed; --back: {back[1]}/{back[0]}",
    }


def main() -> None:
    with labmod.exclusive():
        lab = labmod.up()
        try:
            rows = {"VRRP pair": vrrp(lab), "anycast, 3 nodes": anycast(lab)}
        finally:
            labmod.down(lab)
    print(f"{'':14} | {'VRRP pair':58} | anycast, 3 nodes")
    for scenario in ("haproxy dies", "node frozen", "planned move"):
        cells = [rows[kind][scenario] for kind in rows]
        print(f"{scenario:14} | {cells[0]:58} | {cells[1]}")


if __name__ == "__main__":
    main()
