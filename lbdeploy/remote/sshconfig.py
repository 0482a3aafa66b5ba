"""The operator's ssh_config, read with paramiko's parser (the route is `core/targets.py`)."""

from __future__ import annotations

from pathlib import Path

import paramiko

from lbdeploy.errors import UsageError


def load_config(path: Path | None) -> paramiko.SSHConfig:
    """The operator's ssh_config, read once with the inventory; none is an empty config."""
    if path is None or not path.exists():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_text(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the SSH config {path}: {exc}") from None
    except Exception as exc:  # paramiko's parser raises plain exceptions on bad lines
        raise UsageError(f"{path}: not a valid SSH config: {exc}") from None
