"""Print lbdeploy's costs on the lab: cold converge, no-op re-run, one change.

Run: .venv/bin/python -m bench.converge   (starts the lab, stops it at the end)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import lab as labmod

ROOT = Path(__file__).resolve().parent.parent


def up(inventory: Path) -> tuple[float, dict]:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lbdeploy", "up", str(inventory), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    took = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"up failed:\n{result.stdout}\n{result.stderr}")
    return took, json.loads(result.stdout)


def per_node(report: dict) -> str:
    return ", ".join(
        f"{name}: {n['stats']['connections']} conn / {n['stats']['round_trips']} round trips"
        for name, n in report["nodes"].items()
    )


def main() -> None:
    t0 = time.monotonic()
    lab = labmod.up()
    print(f"lab up (image cached or built): {time.monotonic() - t0:.1f} s")
    try:
        text = (
            (ROOT / "inventories" / "lab.yaml").read_text().replace("../.lab/", f"{lab.state_dir}/")
        )
        tmp = Path(tempfile.mkdtemp())
        inventory = tmp / "inventory.yaml"
        inventory.write_text(text)
        cold, report = up(inventory)
        print(
            f"cold converge (2 fresh nodes, apt included): {cold:.2f} s wall, "
            f"VIP serving {report['converged_after']} s after start; {per_node(report)}"
        )
        noops = []
        for _ in range(5):
            took, report = up(inventory)
            assert all(n["changed"] == 0 for n in report["nodes"].values())
            noops.append(took)
        print(
            f"no-op re-run, 5 runs: median {statistics.median(noops):.2f} s wall "
            f"(min {min(noops):.2f}, max {max(noops):.2f}), in-tool {report['seconds']} s; "
            f"{per_node(report)}"
        )
        changes = []
        for weight in (11, 12, 13):
            inventory.write_text(text.replace("port: 8080}\n", f"port: 8080, weight: {weight}}}\n"))
            took, report = up(inventory)
            changes.append(took)
        print(
            f"one change (a backend weight, haproxy reloaded), 3 runs: median "
            f"{statistics.median(changes):.2f} s wall; {per_node(report)}"
        )
    finally:
        labmod.down(lab)


if __name__ == "__main__":
    main()
