"""Plans → the POSIX sh scripts that carry them out, one per change: pure text.

Files travel inside the script as quoted here-documents (on stdin, never in argv).
Each config is staged beside its target, validated there, and only then moved; the
previous file is kept as `<file>.lbdeploy-bak`.
"""

from __future__ import annotations

import posixpath
from shlex import quote

from lbdeploy.facts import APPLIED
from lbdeploy.plan import ServiceAction
from lbdeploy.render import HAPROXY_CFG, keepalived_test_copy
from lbdeploy.shell import Command
from lbdeploy.steps.base import Change, Upload, sha256_text

VALIDATION_FAILED = 65
MARK = "lbdeploy-validation-failed:"
PREAMBLE = "set -eu\nexport LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin\numask 022\n"


def _checked(command: Command) -> str:
    """One command line that stops the script when it fails.

    `set -e` ignores a failure on the left of `&&` (`apt-get update && apt-get install`
    would fail silently), so every line carries its own exit.
    """
    return f"{{ {command.text()}; }} || exit $?\n"


def _heredoc(path: str, content: str) -> str:
    # The delimiter is derived from the content's own hash, so it cannot occur in it.
    delimiter = f"LBDEPLOY_EOF_{sha256_text(content)[:24]}"
    body = content if content.endswith("\n") else content + "\n"
    return f"cat > {quote(path)} <<'{delimiter}'\n{body}{delimiter}\n"


def staged_path(path: str) -> str:
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.lbdeploy-new")


def _validate(upload: Upload, staged: str, cleanup: str) -> str:
    path = upload.spec.path
    if upload.validator == "haproxy":
        check = f"haproxy -c -f {quote(staged)}"
        prep = ""
    elif upload.validator == "keepalived":
        # keepalived -t is killed (exit 143) with a non-root script_user: test a copy.
        test_copy = staged + ".test"
        prep = "umask 077\n" + _heredoc(test_copy, keepalived_test_copy(upload.spec.content))
        prep += "umask 022\n"
        check = (
            f"keepalived -t -f {quote(test_copy)}; rc=$?; rm -f {quote(test_copy)}; [ $rc -eq 0 ]"
        )
        check = f"{{ {check}; }}"
    else:
        return ""
    return (
        prep
        + f"if ! out=$({check} 2>&1); then {cleanup}\n"
        + f"  printf '%s\\n' \"$out\" >&2; echo {quote(MARK + ' ' + path)} >&2;"
        + f" exit {VALIDATION_FAILED}; fi\n"
    )


def change_script(change: Change) -> str:
    parts = [PREAMBLE]
    parts += [_checked(c) for c in change.commands_before]
    staged = [staged_path(u.spec.path) for u in change.uploads if u.content_changed]
    cleanup = f"rm -f {' '.join(quote(s) for s in staged)};" if staged else ":;"
    for upload in change.uploads:
        spec = upload.spec
        owner = quote(f"{spec.owner}:{spec.group}")
        mode = f"{spec.mode:04o}"
        if not upload.content_changed:
            parts.append(f"chown {owner} {quote(spec.path)}\nchmod {mode} {quote(spec.path)}\n")
            continue
        stage = staged_path(spec.path)
        parts.append(f"mkdir -p {quote(posixpath.dirname(spec.path))}\n")
        # Staged under umask 077: nobody can read a password before chown/chmod.
        parts.append("umask 077\n" + _heredoc(stage, spec.content) + "umask 022\n")
        parts.append(f"chown {owner} {quote(stage)}\nchmod {mode} {quote(stage)}\n")
        parts.append(_validate(upload, stage, cleanup))
    # Every file validated: now move them all, keeping the previous versions.
    for upload in change.uploads:
        if not upload.content_changed:
            continue
        path = quote(upload.spec.path)
        parts.append(
            f"if [ -f {path} ]; then cp -p {path} {path}.lbdeploy-bak; fi\n"
            f"mv -f {quote(staged_path(upload.spec.path))} {path}\n"
        )
    recorded = [u for u in change.uploads if u.content_changed]
    if recorded:
        parts.append(_record(recorded))
    parts += [_checked(c) for c in change.commands]
    return "".join(parts)


def _record(uploads: list[Upload]) -> str:
    """Remember what lbdeploy wrote, so a later hand edit shows as drift.

    Root-only: the hash of a file that holds a short password would help guess it.
    """
    applied = quote(APPLIED)
    paths = [u.spec.path for u in uploads]
    drop = " ".join(f"-e {quote('  ' + p)}" for p in paths)  # lines end "  <path>"
    lines = "".join(f"{u.spec.sha256}  {u.spec.path}\n" for u in uploads)
    return (
        f"umask 077\nmkdir -p {quote(posixpath.dirname(APPLIED))}\n"
        f"chmod 0700 {quote(posixpath.dirname(APPLIED))}\n"
        f"{{ grep -vF {drop} {applied} 2>/dev/null || true; printf '%s' {quote(lines)}; }}"
        f" > {applied}.new\nmv -f {applied}.new {applied}\numask 022\n"
    )


HAPROXY_SOCKET = "/run/haproxy/admin.sock"
RELOAD_FAILED = 66
RELOAD_WAIT_TRIES = 100  # x 0.2 s
_WORKER_PID = (
    f"echo 'show info' | socat -t 2 stdio unix-connect:{HAPROXY_SOCKET} 2>/dev/null"
    " | sed -n 's/^Pid: //p'"
)


def _haproxy_reload() -> str:
    """Reload haproxy and prove the new config runs; else put the previous file back.

    The reload is asynchronous and a config that passed `haproxy -c` can still fail to
    load (a port already in use): the master then keeps the old workers and systemd
    reports success. Only a new worker answering on the stats socket proves the
    reload; on failure the live file goes back to the one that runs, so the next
    `up` sees the difference and tries again.
    """
    cfg = quote(HAPROXY_CFG)
    applied = quote(APPLIED)
    return (
        f"before=$({_WORKER_PID}); since=$(date +%s)\n"
        "systemctl reload-or-restart haproxy\n"
        "i=0\n"
        "while :; do\n"
        f"  now=$({_WORKER_PID})\n"
        '  if [ -n "$now" ] && [ "$now" != "$before" ]; then break; fi\n'
        '  log=$(journalctl -q -u haproxy --since "@$since" --no-pager 2>/dev/null || true)\n'
        '  i=$((i+1)); if echo "$log" | grep -q "Loading failure"'
        f" || [ $i -ge {RELOAD_WAIT_TRIES} ]; then\n"
        '    echo "$log" | grep ALERT >&2 || true\n'
        f"    if [ -f {cfg}.lbdeploy-bak ]; then umask 077; cp -p {cfg}.lbdeploy-bak {cfg};"
        f" grep -vF {quote('  ' + HAPROXY_CFG)} {applied} > {applied}.new || true;"
        f" mv -f {applied}.new {applied}; fi\n"
        "    echo 'haproxy kept running its previous config: the new one did not load;"
        f" {HAPROXY_CFG} was put back to the running version' >&2\n"
        f"    exit {RELOAD_FAILED}\n"
        "  fi\n"
        "  sleep 0.2\n"
        "done\n"
    )


def services_script(actions: tuple[ServiceAction, ...]) -> str:
    """Enable and (re)load services; reload-or-restart starts a stopped one."""
    lines = [PREAMBLE]
    for action in actions:
        if action.enable:
            lines.append(f"systemctl enable -q {quote(action.service)}\n")
        if action.action == "reload" and action.service == "haproxy":
            lines.append(_haproxy_reload())
        elif action.action in ("reload", "start"):
            lines.append(f"systemctl reload-or-restart {quote(action.service)}\n")
    return "".join(lines)
