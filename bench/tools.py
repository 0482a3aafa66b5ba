"""Run one tool once on a workspace and measure it: wall time, SSH connections (counted
by each node's sshd), round trips (SSH channel sessions, counted by the client), changes,
and the seconds of its package step (apt)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.labnodes import accepted_logins
from bench.workspace import PEERS, Workspace, lbdeploy_command

TIMEOUT = 900  # one run of any tool, cold included
TOOLS = ("lbdeploy", "ansible", "pyinfra")


@dataclass
class Sample:
    seconds: float
    ok: bool
    connections: dict[str, int] = field(default_factory=dict)
    round_trips: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    apt_seconds: float | None = None
    error: str = ""


@dataclass
class Timed:
    """A finished command: its wall time, exit code, and stdout lines with their times."""

    seconds: float
    code: int
    lines: list[tuple[float, str]]
    stderr: str

    @property
    def stdout(self) -> str:
        return "".join(line for _, line in self.lines)


def clean_env() -> dict[str, str]:
    """This environment without what would make one tool slower than its users see it:
    no bytecode writing would recompile lbdeploy (an editable install) on every run."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, merge: bool = False
) -> Timed:
    """Run a command; stdout lines are stamped as they arrive (to time a step from outside).

    merge: stderr joins stdout (pyinfra logs its progress on stderr)."""
    start = time.monotonic()
    with subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**clean_env(), **(env or {})},
        cwd=cwd,
    ) as proc:
        assert proc.stdout is not None
        lines = [(time.monotonic() - start, line) for line in proc.stdout]
        stderr = proc.stderr.read() if proc.stderr else ""
        try:
            code = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -9
    return Timed(time.monotonic() - start, code, lines, stderr)


def step_seconds(lines: list[tuple[float, str]], start: re.Pattern[str], any_step: str) -> float:
    """Seconds from the line that starts a step to the next line that starts any step."""
    begun = None
    for at, line in lines:
        if begun is not None and re.search(any_step, line):
            return at - begun
        if begun is None and start.search(line):
            begun = at
    return 0.0


def run_tool(tool: str, ws: Workspace) -> Sample:
    """One run of `tool` on every node of the workspace; connections from sshd's journal."""
    before = accepted_logins(ws.nodes)
    runners = {"lbdeploy": _lbdeploy, "ansible": _ansible, "pyinfra": _pyinfra, "openssh": _openssh}
    sample = runners[tool](ws)
    after = accepted_logins(ws.nodes)
    sample.connections = {name: after[name] - before[name] for name in after}
    return sample


def _by_port(ws: Workspace, counts: Counter[str]) -> dict[str, int]:
    return {n.name: counts.get(str(n.ssh_port), 0) for n in ws.nodes}


def _failed(run: Timed) -> str:
    return (run.stdout[-1500:] + run.stderr[-1500:]).strip()


def _lbdeploy(ws: Workspace) -> Sample:
    run = timed(lbdeploy_command("up", str(ws.inventory), "--json"))
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        return Sample(run.seconds, False, error=_failed(run))
    nodes = report["nodes"].values()
    apt = [s["seconds"] for n in nodes for s in n["steps"] if s["step"] == "packages"]
    # The report says why a run failed; its JSON tail would not.
    why = [
        *report.get("notes", []),
        *(f"{n}: {v['error']}" for n, v in report["nodes"].items() if v["error"]),
    ]
    return Sample(
        run.seconds,
        run.code == 0,
        round_trips={name: n["stats"]["round_trips"] for name, n in report["nodes"].items()},
        changes=sum(n["changed"] for n in nodes),
        apt_seconds=max((a for a in apt if a), default=None),
        error="" if run.code == 0 else "\n".join(why) or _failed(run),
    )


def _openssh(ws: Workspace) -> Sample:
    """The floor under any agentless tool: OpenSSH logs in to every node at once, as the
    inventory's user, and runs `sudo -n true`; nothing else (no facts, no Python)."""
    base = ["ssh", "-n", "-i", str(ws.lab.identity_file), "-o", "IdentitiesOnly=yes"]
    base += ["-o", f"UserKnownHostsFile={ws.lab.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    base += ["-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none"]
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [*base, "-p", str(n.ssh_port), "deploy@127.0.0.1", "sudo -n true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in ws.nodes
    ]
    errors = []
    for node, proc in zip(ws.nodes, procs, strict=True):
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            err = "timed out after 60 s"
        if proc.returncode != 0:
            errors.append(f"{node.name}: {err.strip()[-300:]}")
    return Sample(
        time.monotonic() - start,
        not errors,
        round_trips={n.name: 1 for n in ws.nodes},
        error="\n".join(errors),
    )


RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def _ansible(ws: Workspace) -> Sample:
    log = ws.directory / "ansible-ssh.log"
    log.write_text("")
    wrappers = {}
    for tool in ("ssh", "sftp", "scp"):
        wrapper = ws.directory / "bin" / tool
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec /usr/bin/{tool} "$@"\n')
        wrapper.chmod(0o755)
        wrappers[f"ANSIBLE_{tool.upper()}_EXECUTABLE"] = str(wrapper)
    here = PEERS / "ansible"
    env = {
        **wrappers,
        "ANSIBLE_CONFIG": str(here / "ansible.cfg"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(ws.directory / "cp"),
        "ANSIBLE_HOME": str(ws.directory / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    playbook = ansible_playbook()
    inventory = str(ws.directory / "ansible-inventory.json")
    run = timed([playbook, "-i", inventory, str(here / "site.yml")], env=env)
    changes, failed = 0, run.code != 0
    for _, line in run.lines:
        match = RECAP.match(line)
        if match:
            changes += int(match[2])
            failed = failed or match[3] != "0" or match[4] != "0"
    ports: Counter[str] = Counter(
        m[1] for line in log.read_text().splitlines() if (m := re.search(r"Port=(\d+)", line))
    )
    apt = step_seconds(run.lines, re.compile(r"^TASK \[Packages\]"), r"^(TASK|RUNNING HANDLER) ")
    return Sample(
        run.seconds,
        not failed,
        round_trips=_by_port(ws, ports),
        changes=changes,
        apt_seconds=apt or None,
        error=_failed(run) if failed else "",
    )


def ansible_playbook() -> str:
    return str(Path(sys.executable).with_name("ansible-playbook"))


OPERATION = re.compile(r"--> Starting operation: (.*)")
SUCCESS = re.compile(r"^\s+\[(\S+)\]\s+Success")
CHECK_ONLY = "The VIP answers (check)"  # a probe, run every time: not a change


def _pyinfra(ws: Workspace) -> Sample:
    counts_file = ws.directory / "pyinfra-counts.json"
    here = PEERS / "pyinfra"
    args = [sys.executable, str(here / "counted.py"), "-y"]
    args += [str(ws.directory / "pyinfra_inventory.py"), str(here / "deploy.py")]
    run = timed(args, env={"BENCH_COUNTS": str(counts_file)}, cwd=ws.directory, merge=True)
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {"sessions": {}}
    changes, operation = 0, ""
    for _, line in run.lines:
        if started := OPERATION.search(line):
            operation = started[1].strip()
        elif SUCCESS.match(line) and operation != CHECK_ONLY:
            changes += 1
    apt = step_seconds(run.lines, re.compile(r"Starting operation: Packages"), "Starting operation")
    return Sample(
        run.seconds,
        run.code == 0,
        round_trips=_by_port(ws, Counter(counts["sessions"])),
        changes=changes,
        apt_seconds=apt or None,
        error="" if run.code == 0 else _failed(run),
    )
