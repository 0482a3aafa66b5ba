"""Plans → the scripts that carry them out, one per change, built with the script builder.

Files travel inside the script as quoted here-documents (on stdin, never in argv).
Each file is staged beside its target, checked there by its own validator, and only
when every file of the change passed are they moved; the previous file is kept as
`<file>.lbdeploy-bak`. Like Ansible's validate-then-atomic_move.
"""

from __future__ import annotations

from lbdeploy.files import ManagedFile
from lbdeploy.paths import APPLIED, HAPROXY_CFG, HAPROXY_SOCKET, PENDING, STATE_DIR, staged
from lbdeploy.plan import ServiceAction
from lbdeploy.script import Script
from lbdeploy.shell import Command, Secret, cmd, sh
from lbdeploy.steps.base import Change, Upload

VALIDATION_FAILED = 65
RELOAD_FAILED = 66
MARK = "lbdeploy-validation-failed:"
RELOAD_WAIT_TRIES = 100  # x 0.2 s


def _content(file: ManagedFile, text: str) -> str | Secret:
    """Content that holds a secret is masked wherever the script is shown."""
    return Secret(text) if file.secret or file.redact else text


def _stage(script: Script, file: ManagedFile) -> None:
    """Write the new version beside the target, unreadable until chown/chmod."""
    target = staged(file.path)
    script.run(cmd("mkdir -p {dir}", dir=file.path.rpartition("/")[0] or "/"))
    script.line(cmd("umask 077")).write(target, _content(file, file.content))
    script.line(cmd("umask 022"))
    script.run(cmd("chown {owner} {path}", owner=f"{file.owner}:{file.group}", path=target))
    script.run(cmd("chmod {mode} {path}", mode=f"{file.mode:04o}", path=target))


def _validate(script: Script, file: ManagedFile, cleanup: list[str]) -> None:
    """Run the file's validator on the staged copy; on failure remove every staged file."""
    if file.validate is None:
        return
    target, scratch = staged(file.path), []
    if file.validate.test_copy is not None:
        target = staged(file.path) + ".test"
        scratch = [target]
        script.line(cmd("umask 077"))
        script.write(target, _content(file, file.validate.test_copy(file.content)))
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
    path = file.path
    script.run(cmd("if [ -f {p} ]; then cp -p {p} {bak}; fi", p=path, bak=path + ".lbdeploy-bak"))
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
        # A restart owed is never downgraded to a reload by a later change.
        script.run(
            cmd(
                "grep -qx restart {f} 2>/dev/null || echo {action} > {f}",
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
        if not upload.content_changed:
            _set_mode(script, upload)
            continue
        _stage(script, upload.file)
        _validate(script, upload.file, cleanup)
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


_WORKER_PID = (
    "echo 'show info' | socat -t 2 stdio unix-connect:{socket} 2>/dev/null | sed -n 's/^Pid: //p'"
)


def haproxy_reload() -> Command:
    """Reload haproxy and prove the new config runs; else put the previous file back.

    The reload is asynchronous and a config that passed `haproxy -c` can still fail to
    load (a port already in use): the master then keeps the old workers and systemd
    reports success. Only a new worker answering on the stats socket proves the
    reload; on failure the live file goes back to the one that runs, so the next
    `up` sees the difference and tries again.
    """
    return cmd(
        "before=$(" + _WORKER_PID + "); since=$(date +%s)\n"
        "systemctl reload-or-restart haproxy\n"
        "i=0\n"
        "while :; do\n"
        "  now=$(" + _WORKER_PID + ")\n"
        '  if [ -n "$now" ] && [ "$now" != "$before" ]; then break; fi\n'
        '  log=$(journalctl -q -u haproxy --since "@$since" --no-pager 2>/dev/null || true)\n'
        '  i=$((i+1)); if echo "$log" | grep -q "Loading failure" || [ $i -ge {tries} ]; then\n'
        '    echo "$log" | grep ALERT >&2 || true\n'
        "    if [ -f {bak} ]; then umask 077; cp -p {bak} {cfg};"
        " grep -vF {entry} {applied} > {new} || true; mv -f {new} {applied}; rm -f {owed}; fi\n"
        "    echo {message} >&2\n"
        "    exit {code}\n"
        "  fi\n"
        "  sleep 0.2\n"
        "done",
        socket=HAPROXY_SOCKET,
        tries=RELOAD_WAIT_TRIES,
        bak=HAPROXY_CFG + ".lbdeploy-bak",
        cfg=HAPROXY_CFG,
        entry="  " + HAPROXY_CFG,
        applied=APPLIED,
        new=APPLIED + ".new",
        owed=f"{PENDING}/haproxy",  # the live file is the running one again: nothing owed
        message="haproxy kept running its previous config: the new one did not load;"
        f" {HAPROXY_CFG} was put back to the running version",
        code=RELOAD_FAILED,
    )


def services_script(actions: tuple[ServiceAction, ...]) -> Script:
    """Enable and (re)load services; reload-or-restart starts a stopped one."""
    script = Script()
    for action in actions:
        unit = action.service
        if action.enable:
            script.run(cmd("systemctl enable -q {unit}", unit=unit))
        if action.action == "reload" and unit == "haproxy":
            script.line(haproxy_reload())
        elif action.action == "restart":
            script.run(cmd("systemctl restart {unit}", unit=unit))
        elif action.action in ("reload", "start"):
            script.run(cmd("systemctl reload-or-restart {unit}", unit=unit))
        if action.action != "enable":
            script.run(cmd("rm -f {f}", f=f"{PENDING}/{unit}"))
    if actions:
        script.run(cmd("systemctl is-active -q {units}", units=[a.service for a in actions]))
    return script
