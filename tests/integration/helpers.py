"""Drive the real CLI against the lab and look at the nodes from outside (docker exec)."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from lab import lab as labmod

ROOT = Path(__file__).resolve().parents[2]
VIP = labmod.VIP


def lab_inventory_text(lab: labmod.Lab, name: str = "lab.yaml") -> str:
    """inventories/NAME with absolute paths, so a copy works from any directory."""
    text = (ROOT / "inventories" / name).read_text()
    return text.replace("../.lab/", f"{lab.state_dir}/")


def write_inventory(tmp_path: Path, lab: labmod.Lab, edit: tuple[str, str] | None = None) -> Path:
    text = lab_inventory_text(lab)
    if edit is not None:
        assert edit[0] in text, edit[0]
        text = text.replace(edit[0], edit[1])
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


CLI_ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(Path.home())}
CLI = [sys.executable, "-m", "lbdeploy"]


def lbdeploy(
    *args: str, stdin: str | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        check=False,
        env={**CLI_ENV, **(env or {})},
    )


def start_lbdeploy(*args: str) -> subprocess.Popen[str]:
    """lbdeploy started in the background, as `lbdeploy` runs it, for a test to interrupt."""
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLI_ENV
    )


def run_json(*args: str) -> tuple[int, dict | list]:
    result = lbdeploy(*args, "--json")
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON:\n{result.stdout}\n{result.stderr}") from None


def up_json(inventory: Path, *extra: str) -> tuple[int, dict]:
    result = lbdeploy("up", str(inventory), "--json", *extra)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON report:\n{result.stdout}\n{result.stderr}") from None


def converged_inventory(lab: labmod.Lab, directory: Path) -> Path:
    """The lab inventory written into `directory`, and the pair converged with it."""
    path = write_inventory(directory, lab)
    code, report = up_json(path)
    assert code == 0, report
    return path


def sh(node: str, command: str) -> str:
    result = labmod.node_exec(node, command)
    assert result.returncode == 0, f"{node}: {command}: {result.stderr}"
    return result.stdout


def journal_cursor(node: str) -> str:
    """Where `node`'s journal ends now: what comes after it happened after this call."""
    last = sh(node, "journalctl -n 1 --show-cursor -o cat --no-pager").splitlines()[-1]
    assert last.startswith("-- cursor: "), last
    return last.removeprefix("-- cursor: ")


def journal_since(node: str, cursor: str, *tags: str) -> list[str]:
    """`node`'s journal lines with these syslog tags, after `cursor`."""
    return sh(
        node,
        f"journalctl {' '.join(f'-t {t}' for t in tags)} --after-cursor {shlex.quote(cursor)}"
        " --no-pager -o short-precise | grep -v '^-- ' || true",
    ).splitlines()


def pids(node: str) -> dict[str, int]:
    out = sh(node, "systemctl show -p MainPID --value haproxy keepalived").split()
    return {"haproxy": int(out[0]), "keepalived": int(out[1])}


def sha(node: str, path: str) -> str:
    return sh(node, f"sha256sum {path}").split()[0]


def vip_holders(vip: str = VIP) -> list[str]:
    """The lab nodes whose eth1 carries `vip` (IPv4 or IPv6)."""
    needle = f"inet6 {vip}/" if ":" in vip else f"inet {vip}/"
    return [n.name for n in labmod.NODES if needle in sh(n.name, "ip -o addr show dev eth1")]


def wait_for_holders(expected: list[str], timeout: float, vip: str = VIP) -> float:
    """Seconds until exactly `expected` hold `vip`; fails after `timeout` (bounded poll)."""
    start = time.monotonic()
    while True:
        holders = vip_holders(vip)
        if holders == expected:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{vip} held by {holders}, expected {expected} within {timeout} s")
        time.sleep(0.1)


class Load:
    """Clients that call `ask` in a loop while a test changes the pair, each result counted
    "ok" or "failed" (a TLS or socket error fails); bounded: `most` calls a client, and
    `seconds` from when the load is made (not from when it starts)."""

    def __init__(
        self, ask: Callable[[], bool], seconds: float, most: int = 20_000, clients: int = 4
    ) -> None:
        self.counts: Counter[str] = Counter()
        self._ask = ask
        self._most = most
        self._deadline = time.monotonic() + seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        sent = 0
        while not self._stop.is_set() and sent < self._most and time.monotonic() < self._deadline:
            sent += 1
            try:
                ok = self._ask()
            except (OSError, ssl.SSLError):
                ok = False
            with self._lock:
                self.counts["ok" if ok else "failed"] += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def run_in_pty(args: list[str], timeout: float) -> tuple[int, str]:
    """lbdeploy on a pseudo-terminal, as an operator at a terminal runs it: exit code, output.

    Reads until the command ends; killed (and the test failed) past `timeout`.
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execve(CLI[0], [*CLI, *args], {**CLI_ENV, "TERM": "xterm"})
    deadline = time.monotonic() + timeout
    try:
        output = read_pty(fd, deadline)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert time.monotonic() < deadline, f"still running after {timeout} s:\n{text[-2000:]}"
    return (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1), text


def read_pty(fd: int, deadline: float, enough: Callable[[bytes], bool] | None = None) -> bytes:
    """What the child writes to its terminal, until it ends, `enough(output)`, or `deadline`."""
    output = b""
    while time.monotonic() < deadline and not (enough and enough(output)):
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal: it has ended
            break
        if not chunk:
            break
        output += chunk
    return output


def input_drop(table: str, *matches: str) -> str:
    """The node command that drops the packets arriving that match any of `matches` (nft
    expressions), in an inet table of its own, so `input_undrop(table)` lifts just that."""
    rules = " && ".join(f"nft add rule inet {table} input {match} drop" for match in matches)
    return (
        f"nft add table inet {table} && nft add chain inet {table} input "
        f"'{{ type filter hook input priority 0; }}' && {rules}"
    )


def input_undrop(table: str) -> str:
    return f"nft delete table inet {table}"
