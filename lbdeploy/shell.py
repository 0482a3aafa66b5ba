"""Remote commands as values: every argument quoted, secrets masked when shown.

A `Command` renders twice: `.text()` is what runs on the node, `str()` is what a
human may see in output and logs (secrets as ***).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

MASK = "***"


class Secret:
    """A string that never prints itself: str() and repr() give ***."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __len__(self) -> int:
        return len(self._value)


Arg = str | int | Secret


@dataclass(frozen=True)
class Command:
    """One shell command line, built from arguments that are quoted one by one."""

    parts: tuple[Arg | Raw, ...]

    def text(self) -> str:
        """The command line to run, secrets revealed."""
        return " ".join(_quote(p, reveal=True) for p in self.parts)

    def __str__(self) -> str:
        return " ".join(_quote(p, reveal=False) for p in self.parts)


@dataclass(frozen=True)
class Raw:
    """A fixed piece of shell syntax (`&&`, `>`, `2>&1`), written by lbdeploy, never by input."""

    token: str


def _quote(part: Arg | Raw, reveal: bool) -> str:
    if isinstance(part, Raw):
        return part.token
    if isinstance(part, Secret):
        return shlex.quote(part.reveal()) if reveal else MASK
    return shlex.quote(str(part))


def sh(*args: Arg | Raw) -> Command:
    """Build a command: `sh("ip", "addr", "show", iface)`."""
    return Command(tuple(args))


def join(commands: Iterable[Command], op: str = "&&") -> Command:
    """Chain commands with a fixed shell operator."""
    parts: list[Arg | Raw] = []
    for command in commands:
        if parts:
            parts.append(Raw(op))
        parts.extend(command.parts)
    return Command(tuple(parts))
