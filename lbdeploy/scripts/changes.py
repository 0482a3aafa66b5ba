"""Plans → the scripts that carry them out, one per change, built with the script builder.

Files travel inside the script as quoted here-documents (on stdin, never in argv).
Each file is staged beside its target, checked there by its own validator, and only
when every file of the change passed are they moved; the previous file is kept as
`<file>.lbdeploy-bak`. Like Ansible's validate-then-atomic_move.
"""

from __future__ import annotations

from lbdeploy.core.files import ManagedFile
from lbdeploy.core.paths import APPLIED, HAPROXY_CFG, HAPROXY_SOCKET, PENDING, STATE_DIR, staged
from lbdeploy.core.plan import ServiceAction
from lbdeploy.core.steps.base import Change, Upload
from lbdeploy.scripts.script import NOTE, Script
from lbdeploy.scripts.shell import Command, Secret, cmd, sh

VALIDATION_FAILED = 65
RELOAD_FAILED = 66
MARK = "lbdeploy-validation-failed:"
# About 20 s of polls every 0.02 s (plus the check's own ~10 ms): a new worker shows
# ~50 ms after the reload, and polling every 0.2 s cost 0.1-0.2 s per node. The journal
# (for a load failure, to give up at once) is read every 10th poll only.
RELOAD_WAIT_TRIES = 700


def _content(file: ManagedFile, text: str) -> str | Secret:
    """Content that holds a secret is masked wherever the script is shown."""
    return Secret(text) if file.secret or file.redact else text


def _stage(script: Script, file: ManagedFile) -> None:
    """Write the new version beside the target, unreadable until chown/chmod."""
    target = staged(file.path)
    directory = file.path.rpartition("/")[0] or "/"
    script.run(cmd("mkdir -p {dir}", dir=directory))
    if file.secret:
        # A secret file's directory is private too (HAProxy reads keys as root).
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
        "  i=$((i+1))\n"
        "  if [ $((i % 10)) -eq 0 ] || [ $i -ge {tries} ]; then\n"
        '    log=$(journalctl -q -u haproxy --since "@$since" --no-pager 2>/dev/null || true)\n'
        '    if echo "$log" | grep -q "Loading failure" || [ $i -ge {tries} ]; then\n'
        '      echo "$log" | grep ALERT >&2 || true\n'
        "      if [ -f {bak} ]; then umask 077; cp -p {bak} {cfg};"
        " grep -vF {entry} {applied} > {new} || true; mv -f {new} {applied}; rm -f {owed}; fi\n"
        "      echo {message} >&2\n"
        "      exit {code}\n"
        "    fi\n"
        "  fi\n"
        "  sleep 0.02\n"
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


def ssl_cert_update(paths: tuple[str, ...]) -> Command:
    """New certificates through HAProxy's runtime API: no reload, no worker restarted.

    `set ssl cert` takes the PEM (already moved into place, so the next reload agrees)
    as a payload ended by an empty line; `commit ssl cert` makes it live. If HAProxy
    refuses either, a proven reload loads the files instead; a note says which was used.
    """
    return cmd(
        "api=ok; for p in {paths}; do"
        " out=$({ printf 'set ssl cert %s <<\n' \"$p\"; cat \"$p\"; printf '\n'; }"
        ' | socat -t 5 stdio unix-connect:{socket} 2>&1) || out="socat failed";'
        ' case "$out" in *Transaction*) ;; *) api="set ssl cert $p: $out"; break ;; esac;'
        ' out=$(echo "commit ssl cert $p" | socat -t 5 stdio unix-connect:{socket} 2>&1)'
        ' || out="socat failed";'
        ' case "$out" in *Success*) ;; *) api="commit ssl cert $p: $out"; break ;; esac;'
        ' done; if [ "$api" = ok ]; then echo {used};'
        ' else echo {fallback}"$(echo "$api" | head -c 300 | tr "\n" " ")"; fi',
        paths=paths,
        socket=HAPROXY_SOCKET,
        used=NOTE + "certificates replaced through HAProxy's runtime API (no reload)",
        fallback=NOTE + "HAProxy's runtime API refused the certificate, so haproxy was"
        " reloaded instead: ",
    )


def services_script(actions: tuple[ServiceAction, ...]) -> Script:
    """Enable and (re)load services; reload-or-restart starts a stopped one."""
    script = Script()
    # One `systemctl enable` for every unit: each call reloads systemd (0.1 s here).
    enable = [a.service for a in actions if a.enable]
    if enable:
        script.run(cmd("systemctl enable -q {units}", units=enable))
    for action in actions:
        unit = action.service
        if action.action == "ssl-cert":
            script.run(ssl_cert_update(action.paths))
            # Only when the runtime API refused: prove a reload instead.
            script.line(cmd('if [ "$api" != ok ]; then :; ') + haproxy_reload() + cmd("; fi"))
        elif action.action == "reload" and unit == "haproxy":
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
