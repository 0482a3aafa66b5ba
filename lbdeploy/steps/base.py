"""What a step returns when something differs: a Change, made of uploads and commands."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol

from lbdeploy.facts import Facts
from lbdeploy.render import FileSpec
from lbdeploy.shell import Command

Validator = Literal["haproxy", "keepalived"]


@dataclass(frozen=True)
class Upload:
    """A file to put in place: staged beside its target, validated, then moved atomically."""

    spec: FileSpec
    validator: Validator | None = None
    content_changed: bool = True  # False: only mode/owner differ, no upload needed


@dataclass(frozen=True)
class Change:
    """What one step would do on one node, and why."""

    step: str
    why: str
    commands_before: tuple[Command, ...] = ()
    uploads: tuple[Upload, ...] = ()
    commands: tuple[Command, ...] = ()
    reloads: frozenset[str] = frozenset()  # services whose config this change alters


class Step(Protocol):
    @property
    def name(self) -> str: ...

    def plan(self, facts: Facts) -> Change | None: ...


def upload_if_differs(
    spec: FileSpec, facts: Facts, validator: Validator | None = None
) -> Upload | None:
    """None when the live file already has this content, mode and ownership."""
    live = facts.files.get(spec.path)
    if live is not None and live.sha256 == spec.sha256:
        if (live.mode, live.owner, live.group) == (spec.mode, spec.owner, spec.group):
            return None
        return Upload(spec, None, content_changed=False)
    return Upload(spec, validator)


def sha256_text(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()
