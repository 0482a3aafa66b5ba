"""A raw haproxy.cfg line, split into words the way HAProxy itself splits it.

A deny-list of keywords on `line.split()` is beaten by `"backend" x` or `\\x62ackend x`:
HAProxy removes quotes and decodes escapes before it compares the first word with its
section names. So we tokenize as `parse_line()` in HAProxy's src/tools.c does (the options
cfgparse.c passes: quotes, backslash escapes, '#' comments, "$VAR" inside double quotes),
then judge the decoded first word.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

# Every REGISTER_CONFIG_SECTION / cfg_register_section name in HAProxy 3.x, plus those of
# older releases ('program') and of SPOE files. Compared case-insensitively.
SECTIONS = frozenset(
    {
        "acme",
        "backend",
        "cache",
        "crt-store",
        "defaults",
        "dynamic-update",
        "fcgi-app",
        "frontend",
        "global",
        "healthcheck",
        "http-errors",
        "listen",
        "log-forward",
        "log-profile",
        "mailers",
        "namespace_list",
        "peers",
        "program",
        "resolvers",
        "ring",
        "spoe-agent",
        "spoe-group",
        "spoe-message",
        "traces",
        "userlist",
    }
)
# Every character str.splitlines() ends a line at (tests prove the set is complete).
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
MAX_WORDS = 64  # MAX_LINE_ARGS: HAProxy refuses a line with more words
_HEX = set(string.hexdigits)
_SPACE = " \t\n\r\v\f"  # C isspace() in the C locale
_SIMPLE_ESCAPES = {" ": " ", "\\": "\\", "t": "\t", "n": "\n", "r": "\r", "#": "#", "'": "'"}


@dataclass(frozen=True)
class Word:
    """One word of a line: decoded as HAProxy sees it, and as it was written."""

    text: str
    written: str
    from_env: bool = False  # holds a "$VAR" that HAProxy replaces at start-up


def split_words(line: str) -> list[Word]:
    """Words of `line` as HAProxy's parse_line() yields them; ValueError if HAProxy would fail."""
    words: list[Word] = []
    out: list[str] = []
    start = 0
    in_word = from_env = False
    quote = ""
    i = 0

    def close(end: int) -> None:
        nonlocal in_word, from_env
        words.append(Word("".join(out), line[start:end], from_env))
        out.clear()
        in_word = from_env = False

    while i < len(line):
        ch = line[i]
        if ch in "\n\r\0":
            break
        if ch == "#" and not quote:
            break
        if not in_word and (quote or ch not in _SPACE):
            in_word, start = True, i
        if ch in "\"'" and quote in ("", ch):
            quote = "" if quote else ch
            i += 1
        elif ch == "\\" and quote != "'":
            decoded, i = _escape(line, i, quote)
            out.append(decoded)
        elif ch in _SPACE and not quote:
            if in_word:
                close(i)
            while i < len(line) and line[i] in _SPACE:
                i += 1
        elif ch == "$" and quote == '"':
            i = _variable(line, i)
            from_env = True
            out.append("$")
        else:
            out.append(ch)
            i += 1
    if quote:
        raise ValueError(f"has an unmatched {quote} quote")
    if in_word:
        close(i)
    return words


def _escape(line: str, i: int, quote: str) -> tuple[str, int]:
    """Decode the backslash sequence at `line[i]`; return it and the index after it."""
    nxt = line[i + 1 : i + 2]
    if nxt in _SIMPLE_ESCAPES:  # never inside '...': a backslash there is a plain character
        return _SIMPLE_ESCAPES[nxt], i + 2
    if nxt == '"' or (nxt == "$" and quote == '"'):
        return nxt, i + 2
    if nxt == "x":
        digits = line[i + 2 : i + 4]
        if len(digits) < 2 or not set(digits) <= _HEX:
            raise ValueError(r"has a truncated or invalid \x hexadecimal escape")
        return chr(int(digits, 16)), i + 4
    return "\\", i + 1


def _variable(line: str, i: int) -> int:
    """Skip "$NAME", "${NAME}", "${NAME-default}" or "${NAME[*]}"; return the index after it."""
    i += 1
    brace = line[i : i + 1] == "{"
    i += brace
    if not (line[i : i + 1].isascii() and (line[i : i + 1].isalpha() or line[i : i + 1] in "_.")):
        raise ValueError("has a '$' that starts no environment variable name")
    i += 1
    while i < len(line) and line[i].isascii() and (line[i].isalnum() or line[i] == "_"):
        i += 1
    if not brace:
        return i
    end = line.find("}", i)
    if end < 0:
        raise ValueError("has an unmatched '{' in an environment variable")
    return end + 1


def judge_line(line: str) -> str | None:
    """Why this raw line may not go into a section, or None if it stays inside it."""
    if line.lstrip(_SPACE).startswith("["):
        return "starts with '[', which HAProxy reads as a new scope"
    try:
        words = split_words(line)
    except ValueError as exc:
        return f"{exc}, which HAProxy refuses"
    if len(words) > MAX_WORDS:
        return f"has more than {MAX_WORDS} words, which HAProxy refuses"
    if any(not w.text for w in words):
        return "has an empty quoted word, which HAProxy refuses"
    if not words:
        return None
    keyword = words[1] if words[0].text in ("no", "default") and len(words) > 1 else words[0]
    name = keyword.text.lower()
    if name in SECTIONS:
        return f"starts a new '{name}' section; raw options stay inside their section"
    if name.startswith("."):
        return (
            f"is the '{keyword.text}' directive, which changes how HAProxy reads the lines "
            "around it; raw options may not use directives"
        )
    if keyword.from_env:
        return "takes its keyword from an environment variable; write the keyword itself"
    if keyword.text != keyword.written:
        return f"writes its keyword {keyword.written!r} with quotes or escapes; write it plainly"
    return None


def check_line(value: str) -> str:
    """Raw lines are the user's HAProxy; we only stop them escaping their section.

    Anything str.splitlines() splits on is refused, U+2028 included: a tool that reads the
    rendered file by lines would see two. The first word is judged as HAProxy decodes it.
    """
    if not value.strip():
        raise ValueError("must not be empty")
    for ch in value:
        if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127:
            raise ValueError("contains a newline or control character; give one option per item")
        if ch in LINE_BREAKS:
            raise ValueError(f"contains U+{ord(ch):04X}, a line break; give one option per item")
        if not ch.isprintable() and ch != "\t":
            raise ValueError(f"contains an invisible or non-printing character (U+{ord(ch):04X})")
    problem = judge_line(value)
    if problem:
        raise ValueError(problem)
    return value
