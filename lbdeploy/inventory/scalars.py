"""What a YAML scalar means, decided per field instead of by YAML 1.1's implicit types.

YAML 1.1 (PyYAML's resolver) reads `yes`/`on` as true, `010` as 8, `0x50` and `1:20` as 80
and `2001-02-30` as a date that crashes. The loader types a plain scalar only where YAML 1.1
and 1.2 agree (null, true/false, plain decimal integers) and keeps everything else as the
string written; each kind of field then accepts or refuses that string in its own words.
"""

from __future__ import annotations

import re
from typing import Any

_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# str(int(text)) == text, so a string field may take the number back as written.
_INT = re.compile(r"0|-?[1-9][0-9]{0,17}")


def resolve_scalar(text: str) -> Any:
    """A plain scalar's value: None, bool, int, or the string as written (`yes`, `010`, `1.5`)."""
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        return int(text)
    return text


_DECIMAL = re.compile(r"[0-9]+")
_FLAGS = {
    **dict.fromkeys(("true", "yes", "on", "y"), True),
    **dict.fromkeys(("false", "no", "off", "n"), False),
}


def whole_number(value: Any) -> Any:
    """A count or port is a plain decimal: `0x50`, `1:20`, `010`, `1_0` or `true` are refused.

    Refused, not converted: a YAML 1.1 tool reads each of them as another number (80, 80, 8,
    10, 1), so any reading we pick would surprise someone. A quoted "80" is still 80.
    """
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.lower() in _FLAGS:
            raise ValueError(f"{value!r} is a YAML 1.1 boolean, not a number")
        if _DECIMAL.fullmatch(value):
            if len(value) > 1 and value.startswith("0"):
                raise ValueError(
                    f"{value!r} has a leading zero, which YAML 1.1 reads as octal; "
                    f"write {value.lstrip('0') or '0'}"
                )
            if len(value) > 18:
                raise ValueError(f"{value[:18]}... is far too large")
            return int(value)
        raise ValueError(
            f"{value[:40]!r} is not a plain decimal number "
            "(hex, octal, base 60, '_' and signs are refused)"
        )
    raise ValueError("must be a whole number")


def flag(value: Any) -> bool:
    """A yes/no field takes YAML 1.1's spellings too: here `yes` can only mean true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _FLAGS:
        return _FLAGS[value.lower()]
    shown = repr(value[:40]) if isinstance(value, str) else repr(value)
    raise ValueError(f"{shown} is not true or false (yes/no and on/off are accepted)")


_SECONDS = re.compile(r"[0-9]{1,6}(\.[0-9]{0,6})?|\.[0-9]{1,6}")


def seconds(value: Any) -> float:
    """A duration in seconds: `10`, `2.5`; no `1e3`, `.inf`, `nan` or booleans."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _SECONDS.fullmatch(value):
        return float(value)
    shown = repr(value[:40]) if isinstance(value, str) else repr(value)
    raise ValueError(f"{shown} is not a number of seconds (e.g. 10 or 2.5)")
