"""lbdeploy's alert rules in a real Prometheus (issue 25): the lab's Prometheus (infra
node) scrapes the pair as the README says (HAProxy's /metrics and node_exporter, both
behind the stats credentials), loads `lbdeploy rules`, and the alerts fire when the lab
breaks the pair and resolve when it heals.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import (
    input_drop,
    input_undrop,
    lab_inventory_text,
    lbdeploy,
    run_json,
    sh,
    up_json,
    wait_for_holders,
)

PAIR = ("hera", "afrodita")
BLOCK = input_drop("lbdalert", "ip protocol 112")  # VRRP
UNBLOCK = input_undrop("lbdalert")


def api(path: str) -> dict:
    with urllib.request.urlopen(f"{labmod.PROMETHEUS}{path}", timeout=5) as answer:
        return json.loads(answer.read())


def alerts() -> list[dict]:
    return [a for a in api("/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"]


def firing(name: str) -> list[dict]:
    return [a for a in alerts() if a["labels"]["alertname"] == name]


def wait(what: str, ready: object, timeout: float) -> float:
    """Seconds until `ready()` is true; bounded."""
    start = time.monotonic()
    while not ready():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout} s"
        time.sleep(1)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def watched(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pair with its exporters, and Prometheus scraping it with lbdeploy's rules."""
    labmod.reset_nodes(lab)
    text = lab_inventory_text(lab).replace(
        "password: lab-stats}", "password: lab-stats, exporters: true}"
    )
    assert "exporters: true" in text
    path = tmp_path_factory.mktemp("alerts") / "inventory.yaml"
    path.write_text(text)
    code, report = up_json(path)
    assert code == 0, report
    rules = lbdeploy("rules")
    assert rules.returncode == 0, rules.stderr
    subprocess.run(
        [
            "docker", "exec", "-i", f"{labmod.PROJECT}_{labmod.INFRA}_1",
            "sh", "-c", "cat > /etc/prometheus/rules/lbdeploy.yml",
        ],
        input=rules.stdout, text=True, check=True, timeout=30,
    )  # fmt: skip
    request = urllib.request.Request(f"{labmod.PROMETHEUS}/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    groups = api("/api/v1/rules")["data"]["groups"]
    assert sum(len(g["rules"]) for g in groups) >= 10, groups

    def scraped() -> bool:
        targets = api("/api/v1/targets")["data"]["activeTargets"]
        return len(targets) == 4 and all(t["health"] == "up" for t in targets)

    wait("every target scraped", scraped, 60)
    wait(
        "a VRRP state per node",
        lambda: len(api("/api/v1/query?query=lbdeploy_vrrp_state")["data"]["result"]) >= 2,
        30,
    )
    return path


def test_split_brain_fires_within_its_for_and_resolves_after(watched: Path) -> None:
    assert firing("LbdeployVipSplitBrain") == []
    try:
        for node in PAIR:
            sh(node, BLOCK)
        fired = wait("LbdeployVipSplitBrain firing", lambda: firing("LbdeployVipSplitBrain"), 75)
        (alert,) = firing("LbdeployVipSplitBrain")
        print("\nPrometheus /api/v1/alerts (firing):\n" + json.dumps(alert, indent=1))
        assert alert["labels"]["vip"] == labmod.VIP
        assert "lbdeploy" in alert["annotations"]["description"]
    finally:
        for node in PAIR:
            labmod.node_exec(node, UNBLOCK)
    resolved = wait(
        "LbdeployVipSplitBrain resolved", lambda: not firing("LbdeployVipSplitBrain"), 30
    )
    print(f"split brain: firing {fired:.0f} s after the block, resolved {resolved:.0f} s after")
    assert run_json("verify", str(watched))[0] == 0


def test_a_failover_that_lasts_fires_node_fault_and_resolves_after(watched: Path) -> None:
    """HAProxy dead on the master: keepalived puts it in FAULT and the VIP fails over;
    past the rule's `for:` the on-call is told the node cannot take over, until it can."""
    sh("hera", "systemctl stop haproxy")
    try:
        wait_for_holders(["afrodita"], 15)
        fired = wait("LbdeployNodeFault firing", lambda: firing("LbdeployNodeFault"), 100)
        (alert,) = firing("LbdeployNodeFault")
        print("\nPrometheus /api/v1/alerts (firing):\n" + json.dumps(alert, indent=1))
        assert alert["labels"]["node"] == "hera"
        assert firing("LbdeployVipNoHolder") == [] and firing("LbdeployVipSplitBrain") == []
    finally:
        sh("hera", "systemctl start haproxy")
    resolved = wait("node fault resolved", lambda: not firing("LbdeployNodeFault"), 30)
    print(
        f"node fault: firing {fired:.0f} s after HAProxy stopped, resolved {resolved:.0f} s after"
    )
    wait_for_holders(["hera"], 15)


def test_a_failover_is_no_split_brain_and_repeated_moves_fire_flapping(watched: Path) -> None:
    for _ in range(3):  # each test moves the VIP away and back: 6 moves in 10 minutes
        code, move = run_json("failover-test", str(watched))
        assert code == 0, move
        assert firing("LbdeployVipSplitBrain") == [] and firing("LbdeployVipNoHolder") == []
    fired = wait("LbdeployVipFlapping firing", lambda: firing("LbdeployVipFlapping"), 100)
    (alert,) = firing("LbdeployVipFlapping")
    print("\nPrometheus /api/v1/alerts (firing):\n" + json.dumps(alert, indent=1))
    print(f"flapping: firing {fired:.0f} s after the last move (for: 1m)")
    assert alert["labels"]["vip"] == labmod.VIP
