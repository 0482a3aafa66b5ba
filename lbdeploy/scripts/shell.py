"""Remote commands as values: every value quoted, secrets masked when shown.

A `Command` renders twice: `.text()` is what runs on the node, `str()` is what a
human may see in output and logs (secrets as ***). Commands are built either from
arguments (`sh("ip", "addr", "show", iface)`) or from a fixed template whose `{name}`
fields are filled with quoted values (`cmd("systemctl reload {unit}", unit=name)`);
the template is lbdeploy's own text, never input.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import LiteralString

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


def mask(text: str, secrets: Iterable[Secret]) -> str:
    """`text` with every known secret value replaced by ***, longest first."""
    values = sorted({s.reveal() for s in secrets if s.reveal()}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    return text


Arg = str | int | Secret


@dataclass(frozen=True)
class Raw:
    """A fixed piece of shell syntax (`&&`, `>`, `2>&1`), written by lbdeploy, never by input."""

    token: str


@dataclass(frozen=True)
class HereDoc:
    """Text handed to a command verbatim through a quoted here-document.

    The shell expands nothing inside `<<'DELIM'`, and the delimiter is derived from
    the content's hash, so it cannot occur in it. The body follows the command's line.
    """

    content: str | Secret

    @property
    def body(self) -> str:
        text = self.content.reveal() if isinstance(self.content, Secret) else self.content
        return text if text.endswith("\n") else text + "\n"

    @property
    def delimiter(self) -> str:
        return f"LBDEPLOY_EOF_{hashlib.sha256(self.body.encode()).hexdigest()[:24]}"


Part = Arg | Raw | HereDoc


@dataclass(frozen=True)
class Command:
    """One shell command (or block), made of fixed syntax and values quoted one by one."""

    parts: tuple[Part, ...]

    def text(self) -> str:
        """The command to run, secrets revealed (here-document bodies not included)."""
        return "".join(_quote(p, reveal=True) for p in self.parts)

    def __str__(self) -> str:
        return "".join(_quote(p, reveal=False) for p in self.parts)

    def __add__(self, other: Command) -> Command:
        return Command(self.parts + other.parts)

    @property
    def heredocs(self) -> tuple[HereDoc, ...]:
        return tuple(p for p in self.parts if isinstance(p, HereDoc))

    @property
    def values(self) -> tuple[Arg, ...]:
        """Every interpolated value, for tests that prove each one is quoted."""
        return tuple(p for p in self.parts if not isinstance(p, Raw | HereDoc))


def _quote(part: Part, reveal: bool) -> str:
    if isinstance(part, Raw):
        return part.token
    if isinstance(part, HereDoc):
        return f"<<'{part.delimiter}'"
    if isinstance(part, Secret):
        return shlex.quote(part.reveal()) if reveal else MASK
    return shlex.quote(str(part))


def _spaced(args: Iterable[Part]) -> list[Part]:
    parts: list[Part] = []
    for arg in args:
        if parts:
            parts.append(Raw(" "))
        parts.append(arg)
    return parts


def sh(*args: Part) -> Command:
    """Build a command from words: `sh("ip", "addr", "show", iface)`."""
    return Command(tuple(_spaced(args)))


_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def cmd(template: LiteralString, **values: Arg | Sequence[Arg]) -> Command:
    """Fill `{name}` fields of a fixed shell template with quoted values.

    A sequence fills its field with several quoted words. Shell braces such as
    `${x:-}` or `{ a; }` are not fields; a field without a value, or a value
    without a field, is a bug and raises at once.
    """
    parts: list[Part] = []
    used: set[str] = set()
    pos = 0
    for match in _FIELD.finditer(template):
        parts.append(Raw(template[pos : match.start()]))
        name = match.group(1)
        value = values[name]
        used.add(name)
        if isinstance(value, str | int | Secret):
            parts.append(value)
        else:
            parts.extend(_spaced(value))
        pos = match.end()
    parts.append(Raw(template[pos:]))
    unused = set(values) - used
    if unused:
        raise KeyError(f"values without a field in the template: {sorted(unused)}")
    return Command(tuple(p for p in parts if p != Raw("")))


def join(commands: Iterable[Command], op: str = "&&") -> Command:
    """Chain commands with a fixed shell operator."""
    parts: list[Part] = []
    for command in commands:
        if parts:
            parts.append(Raw(f" {op} "))
        parts.extend(command.parts)
    return Command(tuple(parts))


def wrap(command: Command) -> Command:
    """The command as one group, `{ ...; }`, so an operator around it binds to all of it."""
    return Command((Raw("{ "), *command.parts, Raw("; }")))
