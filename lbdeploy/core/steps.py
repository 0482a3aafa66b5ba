"""Steps: a check against facts that returns `None` (already right) or a `Change`.

A step never touches the network; `Files` is the step of every managed file that no
component plans with logic of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lbdeploy.core.facts import Facts, live_text
from lbdeploy.core.files import ManagedFile, Phase
from lbdeploy.scripts.shell import Command


@dataclass(frozen=True)
class Upload:
    """A file to put in place: staged beside its target, validated, then moved atomically."""

    file: ManagedFile
    content_changed: bool = True  # False: only mode/owner differ, no upload needed


@dataclass(frozen=True)
class Change:
    """What one step would do on one node, and why."""

    step: str
    why: str
    phase: Phase = Phase.PREPARE
    commands_before: tuple[Command, ...] = ()
    uploads: tuple[Upload, ...] = ()
    commands: tuple[Command, ...] = ()

    @property
    def changed_files(self) -> tuple[ManagedFile, ...]:
        return tuple(u.file for u in self.uploads if u.content_changed)


class Step(Protocol):
    @property
    def name(self) -> str: ...

    def plan(self, facts: Facts) -> Change | None: ...


def same_content(file: ManagedFile, facts: Facts) -> bool:
    """Whether the live file holds this content, or content that means the same
    (`ManagedFile.same_as_live`: another salt of the same password)."""
    live = facts.files.get(file.path)
    if live is None:
        return False
    if live.sha256 == file.sha256:
        return True
    check = file.same_as_live
    text = live_text(facts, file.path) if check is not None else None
    return check is not None and text is not None and check(text)


def upload_if_differs(file: ManagedFile, facts: Facts) -> Upload | None:
    """None when the live file already has this content, mode and ownership."""
    live = facts.files.get(file.path)
    if live is not None and same_content(file, facts):
        if (live.mode, live.owner, live.group) == (file.mode, file.owner, file.group):
            return None
        return Upload(file, content_changed=False)
    return Upload(file)


@dataclass(frozen=True)
class Files:
    """Put a group of managed files in place (e.g. `configs`: every daemon config).

    All files of a group are validated before any is moved; what a content change
    means for a service is read from each file's `on_change`.
    """

    name: str
    files: tuple[ManagedFile, ...]
    phase: Phase = Phase.CONFIG

    def plan(self, facts: Facts) -> Change | None:
        uploads = [u for f in self.files if (u := upload_if_differs(f, facts)) is not None]
        if not uploads:
            return None
        names = ", ".join(
            u.file.path + ("" if u.content_changed else " (mode/owner)") for u in uploads
        )
        return Change(
            step=self.name, why=f"update {names}", phase=self.phase, uploads=tuple(uploads)
        )
