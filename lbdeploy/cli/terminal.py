"""What reaches a terminal from outside is shown, never obeyed.

A node's stderr, a journal line, a certificate's subject or a file's content may hold
escape sequences: `\\x1b]0;...\\x07` retitles the window, `\\x1b[2K\\r` erases the line
and writes another in its place, and rich passes ESC through (`Text` drops only BEL,
BS, VT, FF and CR). Every string from outside goes through `escape_controls` before it
is printed; JSON output needs no such care (`json.dump` escapes them itself).
"""

from __future__ import annotations

import re

# C0 but newline and tab, DEL, C1 (0x9b is a one-byte CSI), the line and paragraph
# separators, and the bidirectional overrides and isolates that reorder what is shown.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_IN_LINES = re.compile(f"[{_CONTROL}]")
_IN_A_LINE = re.compile(f"[\t\n{_CONTROL}]")


def escape_controls(text: str, lines: bool = False) -> str:
    """Control characters as Python writes them: 'a\\x1b]0;b' → 'a\\\\x1b]0;b'.

    `lines`: the text may span lines (a stderr tail, a list of problems), so newlines
    and tabs stay; otherwise they are escaped too, and the text stays on one line.
    """
    pattern = _IN_LINES if lines else _IN_A_LINE
    return pattern.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
