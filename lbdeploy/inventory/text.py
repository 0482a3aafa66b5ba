"""Bytes → the text an inventory may be: bounded, UTF-8, no characters that move line numbers.

Every refusal names line and column, counted as PyYAML counts them, so that a problem
found here reads like one found later by the YAML parser or the model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What a YAML inventory may cost; an alias bomb hits one of these, never memory.

    A real inventory (101 nodes, 50 services of 20 servers) is under 80 KB, about 10,000
    nodes, a handful of aliases and 6 levels deep.
    """

    max_bytes: int = 128 * 1024
    max_aliases: int = 1_000
    max_nodes: int = 20_000  # after expanding aliases
    max_text: int = 512 * 1024  # characters of scalar text, after expanding aliases
    max_depth: int = 32


class YamlProblem(Exception):
    """A problem at a place in the text, before there is any data to attach it to."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


_BREAK = re.compile(r"\r\n|\r|\n")


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of `text[index]`, with YAML's line breaks (CRLF, CR, LF)."""
    before = text[:index]
    breaks = list(_BREAK.finditer(before))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, index - start + 1


_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def decode(data: bytes, limits: Limits) -> str:
    """The file's text, or a located reason why it is not a UTF-8 inventory."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            message = f"not UTF-8: the file starts with a {encoding} byte order mark"
            raise YamlProblem(1, 1, f"{message}; save it as UTF-8")
    data = data.removeprefix(b"\xef\xbb\xbf")
    if len(data) > limits.max_bytes:
        before = data[: limits.max_bytes].decode("utf-8", "replace")
        line, col = position(before, len(before))
        raise YamlProblem(line, col, _too_large(limits))
    head = data[:64]
    if len(head) >= 4 and (not any(head[1::2]) or not any(head[0::2])):
        raise YamlProblem(1, 1, "not UTF-8: every other byte is NUL, so this looks like UTF-16")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")
        line, col = position(before, len(before))
        byte = data[exc.start]
        raise YamlProblem(
            line, col, f"not UTF-8: byte 0x{byte:02x} ({exc.reason}); save the file as UTF-8"
        ) from None
    check_text(text, limits)
    return text


# What PyYAML's reader refuses, plus DEL..U+009F (C1 controls).
_CONTROL = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# YAML 1.1 reads these as line breaks, editors and YAML 1.2 do not: every line number
# after one would differ between the error message and the editor.
_SEPARATORS = re.compile("[\x85\u2028\u2029]")


def check_text(text: str, limits: Limits) -> None:
    """Refuse text that is too large, holds control characters or nests brackets too deep."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        line, col = position(text, _char_at_byte(text, limits.max_bytes))
        raise YamlProblem(line, col, _too_large(limits))
    for pattern in (_SEPARATORS, _CONTROL):
        found = pattern.search(text)
        if found:
            line, col = position(text, found.start())
            raise YamlProblem(line, col, _describe(found.group()))
    _check_brackets(text, limits.max_depth)


def _too_large(limits: Limits) -> str:
    return f"the file is larger than {limits.max_bytes} bytes, the size limit of an inventory"


def _char_at_byte(text: str, offset: int) -> int:
    """Index of the character that holds byte `offset` of the UTF-8 encoding."""
    return len(text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "ignore"))


def _describe(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    if ch == "\x00":
        return "not UTF-8 text: a NUL byte"
    if ch in "\x85\u2028\u2029":
        name = unicodedata.name(ch, "NEXT LINE")
        return f"contains {code} {name}, which YAML 1.1 reads as a line break; remove it"
    if "\ud800" <= ch <= "\udfff":
        return f"contains {code}, a lone surrogate, which is not a character"
    return f"contains the control character {code}; an inventory is plain text"


_BRACKETS = re.compile(r"[\[\]{}]|\r\n|\r|\n")


def _check_brackets(text: str, max_depth: int) -> None:
    """Refuse deep bracket nesting on one line before PyYAML's scanner sees it.

    PyYAML keeps a possible simple key per open bracket and rechecks them all for every
    token, so a few thousand '[' on one line take seconds. Brackets inside quotes count
    too: no inventory needs 32 of them open on one line.
    """
    depth = 0
    for found in _BRACKETS.finditer(text):
        mark = found.group()
        if mark in "[{":
            depth += 1
            if depth > max_depth:
                line, col = position(text, found.start())
                raise YamlProblem(
                    line, col, f"brackets nest deeper than {max_depth} levels, the depth limit"
                )
        elif mark in "]}":
            depth = max(depth - 1, 0)
        else:
            depth = 0
