"""Unit tests depend on nothing of the machine they run on: not its home directory, its
clock or its user. A test that needs a file in `~` writes it into `home`."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home directory: the developer's ~/.ssh/config (a `Match exec` there would run
    during the suite), keys and known_hosts are never read."""
    path = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(path))
    return path
