"""Print failover figures on the lab: `lbdeploy failover-test`, 5 runs each way.

Run: .venv/bin/python -m bench.failover   (starts the lab, converges it, stops it at the end)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lab import lab as labmod

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5


def lbdeploy(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "lbdeploy", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"lbdeploy {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def figures(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    )


def main() -> None:
    lab = labmod.up()
    try:
        text = (
            (ROOT / "inventories" / "lab.yaml").read_text().replace("../.lab/", f"{lab.state_dir}/")
        )
        inventory = Path(tempfile.mkdtemp()) / "inventory.yaml"
        inventory.write_text(text)
        lbdeploy("up", str(inventory))
        for crash, what in ((False, "haproxy stopped on the master"), (True, "keepalived frozen")):
            away, back = [], []
            for _ in range(RUNS):
                move = lbdeploy("failover-test", str(inventory), *(["--crash"] if crash else []))
                away.append(move["failover_seconds"])
                back.append(move["failback_seconds"])
            print(
                f"{what}, {RUNS} runs: VIP serving from the backup after {figures(away)};"
                f" back on the master after {figures(back)}"
            )
        there = lbdeploy("switchover", str(inventory), "--to", "afrodita")["converged_after"]
        home = lbdeploy("switchover", str(inventory), "--back")["converged_after"]
        print(f"switchover --to afrodita: {there} s; --back: {home} s")
    finally:
        labmod.down(lab)


if __name__ == "__main__":
    main()
