"""Unit tests depend on nothing of the machine they run on: not its home directory, its
network, its clock or its user. A test that needs a file in `~` writes it into `home`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home directory: the developer's ~/.ssh/config (a `Match exec` there would run
    during the suite), keys and known_hosts are never read."""
    path = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture(autouse=True)
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test never opens a connection; one that tries fails at once (as unreachable),
    instead of waiting for a host of the developer's network to answer."""

    def refuse(self: socket.socket, *args: object) -> None:
        raise ConnectionRefusedError("a unit test opens no connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
