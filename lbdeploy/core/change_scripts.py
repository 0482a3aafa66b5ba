"""Plans → the scripts that carry them out, one per change, built with the script builder.

Files travel inside the script as quoted here-documents (on stdin, never in argv).
Each file is staged beside its target, checked there by its own validator, and only
when every file of the change passed are they moved; the previous file is kept as
`<file>.lbdeploy-bak`. Like Ansible's validate-then-atomic_move.
"""

from __future__ import annotations

from lbdeploy.core.files import ManagedFile
from lbdeploy.core.paths import APPLIED, PENDING, STATE_DIR, staged
from lbdeploy.core.steps import Change, Upload
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Secret, cmd, sh

VALIDATION_FAILED = 65
MARK = "lbdeploy-validation-failed:"


def _content(file: ManagedFile, text: str) -> str | Secret:
    """Content that holds a secret is masked wherever the script is shown."""
    return Secret(text) if file.secret or file.redact else text


def _stage(script: Script, file: ManagedFile) -> None:
    """Write the new version beside the target, unreadable until chown/chmod."""
    target = staged(file.path)
    directory = file.path.rpartition("/")[0] or "/"
    script.run(cmd("mkdir -p {dir}", dir=directory))
    if file.secret and (file.owner, file.group) == ("root", "root"):
        # A secret file only root reads gets a private directory too (HAProxy reads keys
        # as root). One a group reads (an exporter's web config, 0640 root:prometheus)
        # keeps its directory traversable, or that group could not open it.
        script.run(cmd("chmod 0700 {dir}", dir=directory))
    script.line(cmd("umask 077")).write(target, _content(file, file.content))
    script.line(cmd("umask 022"))
    script.run(cmd("chown {owner} {path}", owner=f"{file.owner}:{file.group}", path=target))
    script.run(cmd("chmod {mode} {path}", mode=f"{file.mode:04o}", path=target))


def _validate(script: Script, file: ManagedFile, changed: list[ManagedFile]) -> None:
    """Run the file's validator on the staged copy; on failure remove every staged file.

    A config that names other files of the same change (haproxy.cfg and its new
    certificates) is checked as a test copy that names their staged versions, so the
    daemon checks exactly what would go live.
    """
    if file.validate is None:
        return
    cleanup = [staged(f.path) for f in changed]
    text = file.validate.test_copy(file.content) if file.validate.test_copy else file.content
    for other in changed:
        if other is not file:
            text = text.replace(other.path, staged(other.path))
    target, scratch = staged(file.path), []
    if text != file.content:
        target = staged(file.path) + ".test"
        scratch = [target]
        script.line(cmd("umask 077"))
        script.write(target, _content(file, text))
        script.line(cmd("umask 022"))
    check = file.validate.command(target, file.path)
    script.line(
        cmd("if ! out=$({ ")
        + check
        + cmd(
            "; rc=$?; rm -f {scratch}; [ $rc -eq 0 ]; } 2>&1); then rm -f {cleanup};"
            " printf '%s\\n' \"$out\" >&2; echo {mark} >&2; exit {code}; fi",
            scratch=scratch,
            cleanup=cleanup,
            mark=f"{MARK} {file.path}",
            code=VALIDATION_FAILED,
        )
    )


def _move(script: Script, file: ManagedFile) -> None:
    """Put the staged file in place, keeping the previous version beside it, except for a
    secret file: an old key or token left behind would outlive its rotation."""
    path, bak = file.path, file.path + ".lbdeploy-bak"
    if file.secret:
        script.run(cmd("rm -f {bak}", bak=bak))
    else:
        # No live file: no previous version either (never a stale backup to put back).
        script.run(
            cmd("if [ -f {p} ]; then cp -p {p} {bak}; else rm -f {bak}; fi", p=path, bak=bak)
        )
    script.run(cmd("mv -f {staged} {p}", staged=staged(path), p=path))


def _record(script: Script, files: list[ManagedFile]) -> None:
    """Remember what lbdeploy wrote, so a later hand edit shows as drift.

    Root-only: the hash of a file that holds a short password would help guess it.
    """
    directory = STATE_DIR
    lines = "".join(f"{f.sha256}  {f.path}\n" for f in files)
    script.line(cmd("umask 077"))
    script.run(cmd("mkdir -p {d} && chmod 0700 {d}", d=directory))
    script.run(
        cmd(
            "{ grep -vF {drop} {applied} 2>/dev/null || true; printf '%s' {lines}; }"
            " > {new} && mv -f {new} {applied}",
            drop=[arg for f in files for arg in ("-e", "  " + f.path)],  # lines end "  <path>"
            applied=APPLIED,
            lines=lines,
            new=APPLIED + ".new",
        )
    )
    script.line(cmd("umask 022"))


def _owe(script: Script, files: list[ManagedFile]) -> None:
    owed = {f.on_change.service: f.on_change.action for f in files if f.on_change}
    if not owed:
        return
    script.line(cmd("umask 077"))
    script.run(cmd("mkdir -p {d} && chmod 0700 {state}", d=PENDING, state=STATE_DIR))
    for service, action in sorted(owed.items()):
        # What is owed only grows: restart > reload > ssl-cert.
        script.run(
            cmd(
                'case "$(cat {f} 2>/dev/null)" in restart) ;; reload) if [ {action} = restart ];'
                " then echo restart > {f}; fi ;; *) echo {action} > {f} ;; esac",
                f=f"{PENDING}/{service}",
                action=action,
            )
        )
    script.line(cmd("umask 022"))


def _set_mode(script: Script, upload: Upload) -> None:
    file = upload.file
    script.run(cmd("chown {owner} {p}", owner=f"{file.owner}:{file.group}", p=file.path))
    script.run(cmd("chmod {mode} {p}", mode=f"{file.mode:04o}", p=file.path))


def change_script(change: Change) -> Script:
    script = Script()
    for command in change.commands_before:
        script.run(command)
    changed = list(change.changed_files)
    cleanup = [staged(f.path) for f in changed]
    if cleanup:
        # Whatever stops the script (a full disk, a failed check), no staged copy stays.
        removal = sh("rm", "-f", *cleanup, *(s + ".test" for s in cleanup)).text()
        script.line(cmd("trap {removal} EXIT", removal=removal))
    for upload in change.uploads:
        if upload.content_changed:
            _stage(script, upload.file)
        else:
            _set_mode(script, upload)
    # Every file staged before any is checked: a config may name a new certificate.
    for file in changed:
        _validate(script, file, changed)
    # Every file validated: say which reloads are owed (an interrupted run leaves them for
    # the next one), then move them all, keeping the previous versions.
    _owe(script, changed)
    for file in changed:
        _move(script, file)
    if changed:
        script.line(cmd("trap - EXIT"))
        _record(script, changed)
    for then in dict.fromkeys(f.then for f in changed if f.then is not None):
        script.run(then)
    for command in change.commands:
        script.run(command)
    return script
