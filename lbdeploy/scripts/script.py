"""The one builder of remote scripts: facts, steps, service actions, operating commands.

Every script starts with the same preamble and is made of `Command`s, so quoting,
strict mode and the section markers that split a script's output live here only.
A script travels on stdin (never in argv) and runs as root under `sh -s`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import LiteralString

from lbdeploy.scripts.shell import Arg, Command, HereDoc, Secret, cmd, mask

SECTION = "@@lbdeploy "
NOTE = "lbdeploy-note: "  # a stdout line that the step's report line should carry
PREAMBLE = "set -eu\nexport LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin\numask 022\n"
# The whole script is one brace group: sh reads a script as it runs it, so a script cut
# short by a dropped connection would otherwise run a truncated line (`rm -rf /etc/x`
# cut to `rm -rf /etc/`), but it parses a compound command whole before running any of
# it, and an unfinished one is a syntax error. The first byte is `{`, so no cut can
# leave a word that names a command (a function name did: `lbdeploy_main` cut to
# `lbdeploy` ran whatever was on PATH by that name).
OPEN = "{\n"
CLOSE = "}\n"

_MUST = (cmd("{ "), cmd("; } || exit $?"))
_MAY = (cmd("{ "), cmd("; } || :"))
_AS_IS = (cmd(""), cmd(""))


@dataclass(frozen=True)
class _Line:
    command: Command
    wrap: tuple[Command, Command]

    def render(self, reveal: bool) -> str:
        head, tail = self.wrap
        whole = head + self.command + tail
        text = whole.text() if reveal else str(whole)
        bodies = "".join(
            (d.body if reveal or not isinstance(d.content, Secret) else "***\n")
            + d.delimiter
            + "\n"
            for d in self.command.heredocs
        )
        return text + "\n" + bodies


@dataclass
class Script:
    """A POSIX sh script built only from lbdeploy's fixed text and quoted values.

    `run` lines stop the script on failure (`set -e` alone ignores a failure on the
    left of `&&`, so each line carries its own exit); `probe` lines may fail, for the
    read-only facts whose absence is itself a fact; `line` is control flow that
    checks its own results.
    """

    lines: list[_Line] = field(default_factory=list)

    def run(self, command: Command) -> Script:
        """A command that must succeed; else the script exits with its status."""
        return self._add(command, _MUST)

    def probe(self, command: Command) -> Script:
        """A command whose failure is a fact, not an error (the script goes on)."""
        return self._add(command, _MAY)

    def line(self, command: Command) -> Script:
        """A block that handles its own failures (`if ...; then ... fi`, `exit 65`)."""
        return self._add(command, _AS_IS)

    def section(self, name: str) -> Script:
        """Open a section of the output; `split_sections` finds it again."""
        return self._add(cmd("echo {marker}", marker=SECTION + name), _AS_IS)

    def write(self, path: str, content: str | Secret) -> Script:
        """`path` gets `content` through a quoted here-document: nothing is expanded."""
        # A plain command line: `set -e` stops the script if it fails (disk full).
        return self.line(cmd("cat > {path} ", path=path) + Command((HereDoc(content),)))

    def extend(self, other: Script) -> Script:
        self.lines.extend(other.lines)
        return self

    def _add(self, command: Command, wrap: tuple[Command, Command]) -> Script:
        if command.heredocs and "\n" in command.text():
            raise ValueError("a here-document must be the only line of its command")
        self.lines.append(_Line(command, wrap))
        return self

    def text(self) -> str:
        """What runs on the node, secrets revealed."""
        body = "".join(line.render(reveal=True) for line in self.lines)
        return OPEN + PREAMBLE + body + CLOSE

    def shown(self, secrets: Iterable[Secret] = ()) -> str:
        """What a human may see: secrets masked, also inside here-documents."""
        body = "".join(line.render(reveal=False) for line in self.lines)
        return mask(OPEN + PREAMBLE + body + CLOSE, secrets)

    @property
    def values(self) -> tuple[Arg, ...]:
        """Every value interpolated into the script (each one quoted by `Command`)."""
        return tuple(v for line in self.lines for v in line.command.values)


def split_sections(output: str) -> dict[str, list[str]]:
    """'@@lbdeploy NAME' lines open sections; the lines up to the next one are its body."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION) :].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def read_lines(path: str) -> Command:
    """A small file's lines, read by the shell itself (no `cat` process); nothing if absent."""
    return cmd(
        'if [ -f {path} ]; then while IFS= read -r lbl || [ -n "$lbl" ];'
        " do printf '%s\\n' \"$lbl\"; done < {path}; fi",
        path=path,
    )


def count_matches(pattern: LiteralString) -> Command:
    """How many paths match a glob, counted by the shell itself (no `ls | wc`)."""
    return cmd(
        f'lbn=0; for f in {pattern}; do if [ -e "$f" ]; then lbn=$((lbn+1)); fi; done; echo $lbn'
    )
