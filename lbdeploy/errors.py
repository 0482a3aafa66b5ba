"""Errors that carry what their message needs; only the CLI prints them."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.exitcodes import ExitCode


class LbdeployError(Exception):
    """Base of every error the CLI reports as one line (or a few) with an exit code."""

    exit_code: ExitCode = ExitCode.FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an inventory, located like a compiler error."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class InventoryError(LbdeployError):
    """The inventory cannot be used; every problem found is listed, each with its place."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(LbdeployError):
    """The command line asks for something impossible (e.g. an unknown node)."""

    exit_code = ExitCode.BAD_INPUT
