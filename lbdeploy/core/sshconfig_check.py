"""An ssh_config is read as OpenSSH reads it, or refused at its line; nothing in it ever runs.

lbdeploy reads one file as `ssh -G -F FILE host` does: Host and Match blocks in order, the
first value of a keyword wins, and of the values HostName, User, Port, IdentityFile and
ProxyJump. paramiko's parser (`remote/sshconfig.py`) reads some lines differently from
OpenSSH, and its lookup runs `Match exec` commands. Each such line is refused here, with
its line number, before paramiko sees the text:

- a command to run: `Match exec`, `ProxyCommand` (lbdeploy never runs a local command);
- what paramiko skips without a word: `Include`, `CanonicalizeHostname`;
- `Match` criteria paramiko does not read as OpenSSH does (any but all, host, originalhost
  and localuser in lower case; `Match user` would not see the inventory's user);
- a value paramiko would read otherwise (a comment after it, a backslash or a single
  quote, a second word), `%` tokens it does not expand, `[` in a host pattern (a
  character class to paramiko, a plain character to OpenSSH);
- a Port or a ProxyJump hop that OpenSSH refuses too.

`LocalCommand` and `KnownHostsCommand` are left alone: neither paramiko nor lbdeploy runs
them (host keys come from the inventory's known_hosts).
"""

from __future__ import annotations

import io
import re
import shlex

from lbdeploy.core.targets import split_jump

# paramiko's own pattern, so both readers see the same keyword and value on a line.
_SETTING = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")
_CRITERIA = ("all", "host", "originalhost", "localuser")
_ONE_VALUE = ("hostname", "user", "port", "identityfile")  # the single values lbdeploy reads
_TOKENS = {"hostname": ("%h",), "identityfile": ("%d", "%h", "%u")}  # expanded alike by both
_ROUTE_ONLY = (
    "reach the node with ProxyJump, or name an ssh_config for these nodes in ssh.config_file"
    " (false: none)"
)
EXEC = (
    "Match exec is not supported: it would run a local command; lbdeploy never runs one from"
    " ssh_config (select the hosts with Host patterns, or name an ssh_config without it in"
    " ssh.config_file, false: none)"
)


def ssh_config_problems(text: str) -> list[tuple[int, str]]:
    """(line number, why) for each line lbdeploy refuses; none: the file reads as in OpenSSH."""
    problems = []
    # Lines as paramiko iterates them (only '\n' ends one), numbered as OpenSSH numbers them.
    for number, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        setting = _SETTING.match(line)
        problem = (
            _problem(setting.group(1), setting.group(2))
            if setting
            else f"cannot read {line!r}: a line is a keyword and its value"
        )
        if problem:
            problems.append((number, problem))
    return problems


def _words(value: str) -> list[str] | None:
    """`value` split as OpenSSH splits arguments: quotes group words, a backslash escapes a
    quote, a backslash or (unquoted) a space, and a '#' that starts a word starts a comment.
    None: a quote is left open."""
    words: list[str] = []
    i = 0
    while i < len(value):
        if value[i] in " \t":
            i += 1
            continue
        if value[i] == "#":
            break
        word, quote = [], ""
        while i < len(value):
            char, after = value[i], value[i + 1 : i + 2]
            if char == "\\" and (after in ("'", '"', "\\") or (after == " " and not quote)):
                word.append(after)
                i += 2
                continue
            if not quote and char in " \t":
                break
            if not quote and char in "'\"":
                quote = char
            elif quote and char == quote:
                quote = ""
            else:
                word.append(char)
            i += 1
        if quote:
            return None
        words.append("".join(word))
    return words


def _shlex(value: str) -> list[str] | None:
    """Host and Match words as paramiko splits them."""
    try:
        return shlex.split(value)
    except ValueError:
        return None


def _problem(keyword: str, value: str) -> str | None:
    key = keyword.lower()
    if key == "include":
        return (
            f"Include is not supported: lbdeploy reads one ssh_config file, as `ssh -F FILE`"
            f" does; copy what {value} holds into this file"
        )
    if key == "match":
        return _match_problem(value)
    if key == "host":
        return _host_problem(value)
    if key == "proxycommand":
        words = _words(value)
        if words and [w.lower() for w in words] == ["none"]:
            return None
        return f"ProxyCommand is not supported: lbdeploy never runs a local command; {_ROUTE_ONLY}"
    if key == "canonicalizehostname":
        if (_words(value) or [""])[0].lower() in ("no", "none"):
            return None
        return (
            "CanonicalizeHostname is not supported: lbdeploy's reader does not canonicalize as"
            " OpenSSH does; write each full name in HostName"
        )
    if key == "canonicalizemaxdots" and not re.fullmatch(r"[0-9]+", value):
        return f"CanonicalizeMaxDots {value!r} is not a number"
    if key == "proxyjump":
        return _jump_problem(value)
    if key in _ONE_VALUE:
        return _value_problem(keyword, key, value)
    return None


def _value_problem(keyword: str, key: str, value: str) -> str | None:
    """A value lbdeploy uses must read the same to paramiko and to OpenSSH."""
    words = _words(value)
    theirs = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
    if words is None:
        return f"{keyword} {value}: a quote is not closed"
    if not words:
        return f"{keyword} {value}: no value before the comment"
    if len(words) > 1:
        return (
            f"{keyword} {value}: takes one value, not {len(words)} (OpenSSH refuses the others,"
            " lbdeploy's reader would keep them; quote a value with spaces in double quotes)"
        )
    if words != [theirs]:
        return (
            f"{keyword} {value}: OpenSSH reads {' '.join(words)!r} where lbdeploy's reader"
            f" would read {theirs!r}; write one value, plain or in double quotes, and a"
            " comment on a line of its own"
        )
    if key == "port" and not (
        re.fullmatch(r"[0-9]+", theirs) and 1 <= int(theirs) <= 65535  # ssh: "Bad port"
    ):
        return f"Bad port {theirs!r}: Port takes a number 1..65535"
    if key == "identityfile" and "~" in theirs and not re.match(r"~(/|$)", theirs):
        # paramiko replaces every '~' with the home directory; OpenSSH a leading '~/' only.
        return f"{keyword} {theirs}: '~' is expanded only at the start, as '~/'"
    unknown = sorted(set(re.findall(r"%.?", theirs)) - set(_TOKENS.get(key, ())))
    if key in _TOKENS and unknown:
        known = ", ".join(_TOKENS[key])
        return f"{keyword} {theirs}: lbdeploy expands only {known} here, not {', '.join(unknown)}"
    return None


def _jump_problem(value: str) -> str | None:
    # OpenSSH takes the raw text here: quotes stay and spaces split nothing.
    if any(c in value for c in "\"' \t#"):
        return (
            f"ProxyJump {value}: write the hops as [user@]host[:port],... without quotes, spaces"
            " or a comment after them"
        )
    if "%" in value:
        return f"ProxyJump {value}: OpenSSH expands no % token here, lbdeploy's reader would"
    items = value.split(",")
    if [i.lower() for i in items] == ["none"]:
        return None
    for item in items:
        if item.lower() == "none":
            return f"Invalid ProxyJump {value!r}: none stands alone"
        try:
            split_jump(item)
        except ValueError as exc:
            hop = "" if item == value else f"hop {item!r}: "
            return f"Invalid ProxyJump {value!r}: {hop}{exc}"
    return None


def _host_problem(value: str) -> str | None:
    words = _words(value)
    if words is None or words != _shlex(value):
        return (
            f"Host {value}: OpenSSH and lbdeploy's reader would split these patterns apart"
            " differently; write plain patterns, and a comment on a line of its own"
        )
    return _pattern_problem("Host", words)


def _pattern_problem(where: str, patterns: list[str]) -> str | None:
    for pattern in patterns:
        if "[" in pattern:
            return (
                f"{where} {pattern}: '[' is a plain character to OpenSSH but starts a class to"
                " lbdeploy's reader; write the names out, or use * and ?"
            )
    return None


def _match_problem(value: str) -> str | None:
    words, theirs = _words(value), _shlex(value)
    if any(w.lstrip("!").lower() == "exec" for w in (words or []) + (theirs or [])):
        return EXEC
    if words is None or words != theirs:
        return (
            f"Match {value}: OpenSSH and lbdeploy's reader would split this line apart"
            " differently; write plain criteria, and a comment on a line of its own"
        )
    rest = list(words)
    while rest:
        word = rest.pop(0)
        name = word.removeprefix("!")
        if name not in _CRITERIA:
            return _criterion_problem(name)
        if name == "all":
            if word != name or len(words) > 1:
                return "Match all stands alone here"
            continue
        if not rest:
            return f"Match {name} needs a value"
        patterns = rest.pop(0)
        if name != "localuser" and patterns != patterns.lower():
            return (
                f"Match {name} {patterns}: OpenSSH compares host names in lower case,"
                " lbdeploy's reader as written; write the patterns in lower case"
            )
        problem = _pattern_problem(f"Match {name}", patterns.split(","))
        if problem:
            return problem
    return None


def _criterion_problem(name: str) -> str:
    if name.lower() in _CRITERIA:
        return f"Match {name}: write the criterion in lower case ({name.lower()})"
    if name.lower() == "user":
        return (
            "Match user is not supported: the user comes from the inventory (as `ssh -l`),"
            " which lbdeploy's reader cannot see; use Host patterns"
        )
    if name.lower() in ("canonical", "final"):
        return f"Match {name} is not supported: lbdeploy reads the file in one pass"
    return (
        f"Match {name} is not supported: lbdeploy reads Match all, host, originalhost and localuser"
    )
