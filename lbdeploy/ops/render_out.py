"""Files lbdeploy writes on the operator's machine (`render --out`), safely.

A file is written beside its target with its final mode and renamed into place, so
nothing is written through a symlink someone planted, and a directory that is a
symlink or belongs to another user is refused rather than followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from lbdeploy.errors import UsageError


def _check_dir(path: Path) -> None:
    info = path.lstat()
    if path.is_symlink():
        raise UsageError(f"{path} is a symbolic link; refusing to write through it")
    if info.st_uid != os.geteuid():
        raise UsageError(f"{path} belongs to another user (uid {info.st_uid}); refusing to write")


def _make_dirs(root: Path, relative: Path) -> Path:
    """Create root/relative one level at a time, checking every level that exists."""
    current = root
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_dir(root)
    for part in relative.parts:
        current = current / part
        try:
            current.mkdir(mode=0o700)
        except FileExistsError:
            _check_dir(current)
    return current


def write_file(root: Path, relative: str, content: str, mode: int) -> Path:
    """Write root/relative with `mode` from the start; replace, never follow, what is there."""
    rel = Path(relative.lstrip("/"))
    if ".." in rel.parts:
        raise UsageError(f"{relative}: a path with '..' cannot be written")
    directory = _make_dirs(root, rel.parent)
    target = directory / rel.name
    temp = directory / f".{rel.name}.lbdeploy-tmp-{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.chmod(temp, mode, follow_symlinks=False)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target
