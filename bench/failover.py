"""Print failover figures on the lab, default VRRP adverts (1 s) against the fast setting
(`advert_ms: 100`, VRRP version 3), in the same lab run: `lbdeploy failover-test` (HAProxy
stopped on the master) and `--crash` (keepalived frozen), 5 runs each way, and what the
faster adverts cost: keepalived's CPU time on each node over 30 s.

Run: .venv/bin/python -m bench.failover   (takes the lab lock, starts the lab, stops it)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import lab as labmod

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
CPU_WINDOW = 30.0


def lbdeploy(*args: str, timeout: float = 300) -> dict:
    """`lbdeploy ARGS --json` from the checkout, its report; stops the bench if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "lbdeploy", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"lbdeploy {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def figures(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def inventory(lab: labmod.Lab, fast: bool) -> Path:
    text = (ROOT / "inventories" / "lab.yaml").read_text().replace("../.lab/", f"{lab.state_dir}/")
    if fast:
        text = text.replace("  auth_pass: lab-vrrp\n", "  advert_ms: 100\n")
    path = Path(tempfile.mkdtemp()) / "inventory.yaml"
    path.write_text(text)
    return path


def keepalived_cpu(node: str) -> float:
    """Seconds of CPU that keepalived's processes (parent and VRRP child) have used."""
    out = labmod.node_exec(
        node, "for p in $(pgrep keepalived); do cut -d' ' -f14,15 /proc/$p/stat; done"
    ).stdout
    ticks = sum(int(x) for line in out.splitlines() for x in line.split())
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_share(nodes: tuple[str, ...]) -> dict[str, float]:
    """keepalived's CPU use on each node over CPU_WINDOW, in percent of one core."""
    before = {n: keepalived_cpu(n) for n in nodes}
    time.sleep(CPU_WINDOW)
    return {n: 100 * (keepalived_cpu(n) - before[n]) / CPU_WINDOW for n in nodes}


def measure(path: Path) -> list[str]:
    lbdeploy("up", str(path))
    lines = []
    cpu = cpu_share(("hera", "afrodita"))
    lines.append("keepalived CPU: " + ", ".join(f"{n} {v:.2f} %" for n, v in cpu.items()))
    for crash, what in ((False, "haproxy stopped on the master"), (True, "keepalived frozen")):
        away, back = [], []
        for _ in range(RUNS):
            move = lbdeploy("failover-test", str(path), *(["--crash"] if crash else []))
            away.append(move["failover_seconds"])
            back.append(move["failback_seconds"])
        lines.append(f"{what}: away {figures(away)}, back {figures(back)}")
    return lines


def main() -> None:
    with labmod.exclusive():
        lab = labmod.up()
        try:
            rows = {
                "default (advert_int 1)": measure(inventory(lab, fast=False)),
                "fast (advert_ms 100)": measure(inventory(lab, fast=True)),
            }
        finally:
            labmod.down(lab)
    print(f"failover, {RUNS} runs each, median (min-max); same lab run")
    for setting, lines in rows.items():
        print(setting)
        for line in lines:
            print(f"  {line}")


if __name__ == "__main__":
    main()
