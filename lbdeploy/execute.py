"""Carry plans out over SSH: facts in parallel, rolling service changes, then wait for the VIP.

Order of a run: connect and gather facts (taking each node's lock) on every node at
once; if any node cannot be reached or is locked, stop before changing anything. Then
preparation steps run on all nodes in parallel; config and service changes roll, nodes
that are no VIP's preferred master first, and a failure stops the roll.
"""

from __future__ import annotations

import time
from shlex import quote

from lbdeploy.desired import NodeState
from lbdeploy.errors import NodeError, RemoteError
from lbdeploy.facts import SECTION, split_sections
from lbdeploy.health import pair_problems
from lbdeploy.plan import make_plan
from lbdeploy.render import mask_config_secrets, mask_secrets, masked_diff
from lbdeploy.report import Report, Status, StepResult
from lbdeploy.runs import (
    CONVERGE_TIMEOUT,
    Emit,
    NodeRun,
    open_runs,
    parallel,
    refuse_unless_ready,
    rolling_order,
    wait_until_serving,
)
from lbdeploy.scripts import MARK, VALIDATION_FAILED, change_script, services_script
from lbdeploy.shell import Secret
from lbdeploy.steps.base import Change

PREP_STEPS = ("network", "sysctl", "packages", "failsafe")


def _run_change(run: NodeRun, change: Change, emit: Emit) -> None:
    assert run.session is not None
    start = time.monotonic()
    result = run.session.run_script(change_script(change), timeout=900)
    took = time.monotonic() - start
    if result.exit_code != 0:
        # A daemon's complaint may quote a config line: mask what could be a password.
        message = mask_config_secrets(mask_secrets(result.stderr, run.state))
        if result.exit_code == VALIDATION_FAILED and MARK in message:
            target = message.split(MARK, 1)[1].strip()
            detail = f"{target} failed validation; the live file and running service are untouched"
        else:
            detail = change.why
        step = StepResult(change.step, "failed", detail, took)
        run.record(step, emit)
        raise RemoteError(run.state.name, change.step, detail, result.exit_code, message)
    step = StepResult(change.step, "changed", change.why, took)
    run.record(step, emit)


def _run_services(run: NodeRun, emit: Emit) -> None:
    assert run.session is not None and run.plan is not None
    actions = run.plan.services
    if not actions:
        return
    start = time.monotonic()
    names = " ".join(quote(a.service) for a in actions)
    script = services_script(actions) + f"systemctl is-active -q {names}\n"
    result = run.session.run_script(script, timeout=120)
    detail = ", ".join(f"{a.action} {a.service} ({a.why})" for a in actions)
    status: Status = "changed" if result.exit_code == 0 else "failed"
    step = StepResult("services", status, detail, time.monotonic() - start)
    run.record(step, emit)
    if result.exit_code != 0:
        raise RemoteError(run.state.name, "services", detail, result.exit_code, result.stderr)


def converge(
    states: list[NodeState],
    emit: Emit,
    become_password: Secret | None = None,
    check: bool = False,
    diff: bool = False,
    whole_pair: bool = True,
) -> Report:
    """`lbdeploy up`: bring every node to its NodeState; with check, only say what would change."""
    start = time.monotonic()
    report = Report("up --check" if check else "up", {})
    with open_runs(states, become_password, lock=not check) as runs:
        report.nodes = {r.state.name: r.report for r in runs}
        if refuse_unless_ready(report, runs, "changed"):
            report.seconds = time.monotonic() - start
            return report
        for run in runs:
            assert run.facts is not None
            run.plan = make_plan(run.state, run.files, run.facts)
            run.report.drift = list(run.plan.drift)
            for name in run.plan.ok:
                step = StepResult(name, "ok")
                run.record(step, emit)
        if check:
            _report_check(runs, emit, diff)
            report.seconds = time.monotonic() - start
            return report
        changed = _apply(runs, emit)
        if not whole_pair:
            report.notes.append("--node: the pair as a whole was not checked")
        elif not any(r.report.failed for r in runs):
            standby = frozenset(r.state.name for r in runs if r.facts and r.facts.standby)
            for name in sorted(standby):
                report.notes.append(
                    f"{name} is on standby (lbdeploy switchover): it holds no VIP until "
                    "`lbdeploy switchover --back`"
                )
            states_run = [r.state for r in runs]
            initial = pair_problems(states_run, _fact_addresses(runs), _fact_probes(runs), standby)
            if changed or initial:
                problems = wait_until_serving(runs, standby=standby)
                if problems:
                    report.notes += [
                        f"not serving after {CONVERGE_TIMEOUT:.0f} s: {p}" for p in problems
                    ]
                    for run in runs:
                        run.report.error = run.report.error or "the pair did not come up as planned"
                else:
                    report.converged_after = round(time.monotonic() - start, 2)
                    report.notes.append(
                        "serving: every VIP on its node and answering, "
                        f"{report.converged_after} s after start"
                    )
    report.seconds = time.monotonic() - start
    return report


def _fact_addresses(runs: list[NodeRun]) -> dict[str, dict]:
    return {r.state.name: r.facts.addresses for r in runs if r.facts}


def _fact_probes(runs: list[NodeRun]) -> dict[str, dict[str, bool]]:
    return {r.state.name: r.facts.probes for r in runs if r.facts}


def _apply(runs: list[NodeRun], emit: Emit) -> bool:
    """Preparation in parallel, then configs and services node by node. True if anything ran."""

    def prepare(run: NodeRun) -> None:
        assert run.plan is not None
        for change in run.plan.changes:
            if change.step in PREP_STEPS:
                _run_change(run, change, emit)

    parallel(runs, prepare)
    if any(r.report.failed for r in runs):
        for run in runs:
            if not run.report.failed:
                run.report.steps.append(StepResult("configs", "skipped", "another node failed"))
        return True
    for index, run in enumerate(rolling_order(runs)):
        assert run.plan is not None
        try:
            for change in run.plan.changes:
                if change.step not in PREP_STEPS:
                    _run_change(run, change, emit)
            _run_services(run, emit)
        except NodeError as exc:
            run.report.error = str(exc).removeprefix(f"{run.state.name}: ")
            for later in rolling_order(runs)[index + 1 :]:
                later.report.steps.append(
                    StepResult("configs", "skipped", f"stopped after {run.state.name} failed")
                )
            return True
    return any(r.plan and not r.plan.empty for r in runs)


def _report_check(runs: list[NodeRun], emit: Emit, diff: bool) -> None:
    if diff:
        parallel(runs, _fetch_diffs)
    for run in runs:
        assert run.plan is not None
        for change in run.plan.changes:
            step = StepResult(change.step, "would change", change.why)
            run.record(step, emit)
        for action in run.plan.services:
            step = StepResult(
                "services", "would change", f"{action.action} {action.service} ({action.why})"
            )
            run.record(step, emit)


def _fetch_diffs(run: NodeRun) -> None:
    """Second round trip of a check run: the live text of each file that would change."""
    assert run.session is not None and run.plan is not None
    paths = [u.spec.path for c in run.plan.changes for u in c.uploads if u.content_changed]
    if not paths:
        return
    script = "".join(f"echo '{SECTION}{p}'; cat {quote(p)} 2>/dev/null || true\n" for p in paths)
    result = run.session.run_script(script, timeout=60)
    live = split_sections(result.stdout)
    for path in paths:
        old = "".join(line + "\n" for line in live.get(path, []))
        run.report.diffs[path] = masked_diff(
            f"{run.state.name}:{path}", old, run.files[path].content
        )
