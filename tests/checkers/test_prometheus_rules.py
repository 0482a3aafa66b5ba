"""lbdeploy's Prometheus rules pass Prometheus' own checks: `promtool check rules`, and
`promtool test rules` with cases (tests/checkers/data) where every alert fires, its
labels and annotations checked, and where it stays quiet.

Needs Debian's prometheus on this machine for promtool (lab/ensure-docker.sh installs
it). The shape tests (every alert has its cases, `for:`, a severity, a summary and a
description) need nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.daemons

ROOT = Path(__file__).parent.parent.parent
RULES = ROOT / "lbdeploy" / "data" / "prometheus-rules.yml"
CASES = Path(__file__).parent / "data" / "prometheus-rules-test.yml"
SEVERITIES = {"critical", "warning"}


def _needs_promtool() -> None:
    # A checker that is not there must fail, not skip: lab/ensure-docker.sh installs it.
    assert shutil.which("promtool"), (
        "promtool is not installed (bash lab/ensure-docker.sh installs prometheus)"
    )


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    _needs_promtool()
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _cases() -> list[dict[str, Any]]:
    tests = yaml.safe_load(CASES.read_text())["tests"]
    return [case for test in tests for case in test.get("alert_rule_test", [])]


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_runs_the_cases() -> None:
    result = promtool("test", "rules", str(CASES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cases_test_the_shipped_file() -> None:
    (named,) = yaml.safe_load(CASES.read_text())["rule_files"]
    assert (CASES.parent / named).resolve() == RULES.resolve()


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    names = {rule["alert"] for rule in _alerts()}
    fires = {c["alertname"] for c in _cases() if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in _cases() if c.get("exp_alerts") == []}
    assert names - fires == set(), "alerts without a case where they fire"
    assert names - quiet == set(), "alerts without a case where they stay quiet"
    assert (fires | quiet) - names == set(), "cases for alerts the rules do not have"


def test_every_firing_case_checks_labels_and_both_annotations() -> None:
    for case in _cases():
        for alert in case.get("exp_alerts") or []:
            assert alert["exp_labels"]["severity"] in SEVERITIES, case["alertname"]
            assert set(alert["exp_annotations"]) == {"summary", "description"}, case


def test_every_alert_waits_has_a_severity_and_says_what_to_do() -> None:
    for rule in _alerts():
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no for:"
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert set(rule["annotations"]) == {"summary", "description"}, name
        assert "lbdeploy " in rule["annotations"]["description"], f"{name}: no command to run"
