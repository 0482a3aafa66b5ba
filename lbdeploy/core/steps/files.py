"""Managed files with no step of their own (daemon configs and the like): one change each group.

All files of a group are validated before any is moved; what a content change means
for a service is read from each file's `on_change`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.core.facts import Facts
from lbdeploy.core.files import ManagedFile, Phase
from lbdeploy.core.steps.base import Change, Upload, upload_if_differs


@dataclass(frozen=True)
class Files:
    """Put a group of managed files in place; e.g. `configs`: every daemon config."""

    name: str
    files: tuple[ManagedFile, ...]
    phase: Phase = Phase.CONFIG

    def plan(self, facts: Facts) -> Change | None:
        uploads: list[Upload] = []
        for file in self.files:
            upload = upload_if_differs(file, facts)
            if upload is not None:
                uploads.append(upload)
        if not uploads:
            return None
        names = ", ".join(
            u.file.path + ("" if u.content_changed else " (mode/owner)") for u in uploads
        )
        return Change(
            step=self.name, why=f"update {names}", phase=self.phase, uploads=tuple(uploads)
        )
