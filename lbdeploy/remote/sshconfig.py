"""The operator's ssh_config, read with paramiko's parser once `core/sshconfig_check.py` has
refused what paramiko reads differently from OpenSSH (the route is `core/targets.py`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import paramiko

from lbdeploy.core.sshconfig_check import EXEC, ssh_config_problems
from lbdeploy.errors import SshConfigError, SshConfigFileError, UsageError


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


MAX_BYTES = 1024 * 1024


def read_config(path: Path, *, required: bool) -> OnePassConfig | None:
    """The ssh_config at `path`, checked and parsed, as `ssh -F FILE` reads it.

    None: nothing at `path` and nothing `required` (the default ~/.ssh/config may be
    absent, as for OpenSSH); a named file that is missing is an error, as for `ssh -F`.
    """
    shown = shown_path(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        if required:
            raise SshConfigFileError(shown, "does not exist") from None
        return None
    except OSError as exc:
        raise SshConfigFileError(shown, f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SshConfigFileError(shown, "is a directory, not an ssh_config file")
    if not stat.S_ISREG(info.st_mode) and path != Path(os.devnull):
        raise SshConfigFileError(shown, "is not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SshConfigFileError(shown, f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise SshConfigFileError(shown, f"is larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SshConfigError(shown, [(line, "not UTF-8 text")]) from None
    return parse_config(text, shown)


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
