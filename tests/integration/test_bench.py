"""The benchmark runs end to end on the lab: one tiny scenario, and its row in the JSON.

Figures are never asserted: this says the bench works, not how fast anything is. The
test's own lab fixture holds the lab (and its lock), so the bench uses it as it runs
(`--lab running`) instead of starting a second one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lab import lab as labmod

ROOT = Path(__file__).resolve().parents[2]


def test_bench_measures_a_noop_of_lbdeploy_end_to_end(lab: labmod.Lab, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    args = ["--tools", "lbdeploy", "--scenarios", "noop", "--runs", "1", "--lab", "running"]
    args += ["--workdir", str(tmp_path / "work"), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["tool"], r["scenario"], r["nodes"], r["runs"]) for r in rows] == [
        ("lbdeploy", "noop", 2, 1)
    ]
    row = rows[0]
    assert row["errors"] is None and row["changes"] == [0]
    assert row["connections"] is not None and row["round_trips"] is not None
    assert "lbdeploy  noop" in result.stdout  # the printed table has the row
