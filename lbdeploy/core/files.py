"""A managed file: one record says what it holds and what a change to it means.

Plan, change scripts, diff, drift, status and the run record all read these fields;
none keeps its own table keyed by path. Like Ansible's `copy` (validate, mode, owner
in one call) rather than handlers spread over several places.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Literal

from lbdeploy.scripts.shell import Command, Secret, mask, sh


class Phase(Enum):
    """PREPARE runs on every node in parallel; CONFIG rolls node by node."""

    PREPARE = "prepare"
    CONFIG = "config"


@dataclass(frozen=True)
class Validator:
    """The daemon's own checker, which must accept the staged copy before it goes live."""

    argv: tuple[str, ...]  # the staged path is appended (and the target's, with_target)
    # What to check instead of the content itself (keepalived: see keepalived_test_copy).
    test_copy: Callable[[str], str] | None = None
    with_target: bool = False

    def command(self, staged: str, target: str) -> Command:
        return sh(*self.argv, staged, *((target,) if self.with_target else ()))


@dataclass(frozen=True)
class OnChange:
    """What a content change of the file means for a service."""

    service: str
    # ssl-cert: a certificate HAProxy can take through its runtime API, without a reload
    action: Literal["reload", "restart", "ssl-cert"]


@dataclass(frozen=True)
class ManagedFile:
    """A file lbdeploy owns on a node: what it holds and what a change to it means."""

    path: str
    content: str = field(repr=False)
    mode: int
    owner: str = "root"
    group: str = "root"
    validate: Validator | None = None  # must accept the staged copy before it goes live
    on_change: OnChange | None = None  # e.g. reload haproxy
    secret: bool = False  # diffs, drift and JSON show a fingerprint, never content
    redact: tuple[Secret, ...] = ()  # secret values inside an otherwise showable file
    # Where the daemon keeps a password in such a file (a regex; group 1 is kept and the
    # next word masked): also an old password, which the run does not know.
    secret_lines: str = ""
    phase: Phase = Phase.CONFIG
    step: str = "configs"  # the step that carries it, and names it in the report
    then: Command | None = None  # run once it is in place (e.g. systemctl daemon-reload)
    about: str = ""  # what a secret file is, safe to show (a certificate's names, expiry)
    # A live file whose bytes differ but which means the same (a bcrypt hash of the same
    # password with another salt): given the live text, True keeps it. Its component
    # reads that text in the facts (`core/facts.py`, `live_text_lines`).
    same_as_live: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def sha256(self) -> str:
        """What facts report for the live file; compared by plan, drift and status."""
        return hashlib.sha256(self.content.encode()).hexdigest()

    @property
    def fingerprint(self) -> str:
        """How a secret file is shown: never its content."""
        return f"sha256:{self.sha256[:16]} ({len(self.content.encode())} bytes)"

    def shown(self) -> str:
        """The content as a human may see it: nothing of a secret file, no password."""
        if self.secret:
            return f"<secret: {self.about or ''}{' ' if self.about else ''}{self.fingerprint}>\n"
        return mask(self.content, self.redact)

    def diff(self, label: str, live: str | None, live_sha256: str | None) -> str:
        """A unified diff from the live file to this one, safe to print."""
        if self.secret:
            old = f"sha256:{live_sha256[:16]}" if live_sha256 else "absent"
            about = f" ({self.about})" if self.about else ""
            return f"--- {label}: secret file, {old} -> {self.fingerprint}{about}\n"
        patterns = (self.secret_lines,) if self.secret_lines else ()
        return masked_diff(label, live or "", self.content, self.redact, patterns)


def by_path(files: Iterable[ManagedFile]) -> dict[str, ManagedFile]:
    return {f.path: f for f in files}


def mask_secret_lines(content: str, patterns: Iterable[str]) -> str:
    """Passwords as *** wherever a daemon's config keeps one, even in a file lbdeploy did
    not write (an old one whose passwords this run does not know). Each pattern is a
    component's (`ManagedFile.secret_lines`): group 1 is kept, the word after it masked."""
    for pattern in patterns:
        content = re.sub(pattern + r"\S+", r"\1***", content, flags=re.MULTILINE)
    return content


def masked_diff(
    label: str,
    old: str,
    new: str,
    secrets: Iterable[Secret] = (),
    secret_lines: Iterable[str] = (),
) -> str:
    """A unified diff with passwords masked on both sides; says so when only they differ."""
    known = tuple(secrets)
    lines = tuple(secret_lines)
    old_lines = mask_secret_lines(mask(old, known), lines).splitlines(keepends=True)
    new_lines = mask_secret_lines(mask(new, known), lines).splitlines(keepends=True)
    text = "".join(
        difflib.unified_diff(old_lines, new_lines, f"{label} (live)", f"{label} (lbdeploy)")
    )
    if not text and old != new:
        return f"--- {label}: only a password differs (not shown)\n"
    return text
