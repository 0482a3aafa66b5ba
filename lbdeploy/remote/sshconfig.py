"""The operator's ssh_config, read with paramiko's parser once `core/sshconfig_check.py` has
refused what paramiko reads differently from OpenSSH (the route is `core/targets.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paramiko

from lbdeploy.core.sshconfig_check import EXEC, ssh_config_problems
from lbdeploy.errors import SshConfigError, UsageError


class OnePassConfig(paramiko.SSHConfig):
    """paramiko's SSHConfig, looked up in one pass as OpenSSH does.

    paramiko goes over the blocks a second time ("final"); OpenSSH does so only for
    CanonicalizeHostname or `Match canonical`/`final`, which the check refuses. In that
    second pass a `Match host` block above the HostName line would apply to the host it
    names, where `ssh -G` does not apply it.
    """

    def lookup(self, hostname: str) -> paramiko.SSHConfigDict:
        options: paramiko.SSHConfigDict = self._lookup(hostname, final=True)  # type: ignore[attr-defined]
        options.setdefault("hostname", hostname)
        return options


def load_config(path: Path | None) -> paramiko.SSHConfig:
    """The operator's ssh_config, read once with the inventory; none is an empty config."""
    if path is None or not path.exists():
        return paramiko.SSHConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the SSH config {path}: {exc}") from None
    return parse_config(text, shown_path(path))


def parse_config(text: str, name: str) -> OnePassConfig:
    """Checked, then parsed; `name` is what errors call the file. Nothing is looked up yet."""
    problems = ssh_config_problems(text)
    if problems:
        raise SshConfigError(name, list(problems))
    try:
        config = OnePassConfig.from_text(text)
    except Exception as exc:  # paramiko's parser raises plain exceptions on bad lines
        raise UsageError(f"{name}: not a valid SSH config: {exc}") from None
    # The check refuses every `Match exec` line; this holds even if it ever missed one.
    blocks: list[dict[str, Any]] = config._config  # type: ignore[attr-defined]
    if any(
        str(m["type"]).lstrip("!").lower() == "exec" for b in blocks for m in b.get("matches", [])
    ):
        raise SshConfigError(name, [(None, EXEC)])
    return config


def shown_path(path: Path) -> str:
    """A path as messages show it: '~/.ssh/config' for one in the home directory."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)
