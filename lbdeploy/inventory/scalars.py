"""What a plain YAML scalar means: only what YAML 1.1 and YAML 1.2 agree on.

YAML 1.1 (PyYAML's resolver) reads `yes`/`on` as true, `010` as 8, `0x50` and `1:20` as 80
and `2001-02-30` as a date that crashes. The loader types a plain scalar only where YAML 1.1
and 1.2 agree (null, true/false, plain decimal integers) and keeps everything else as the
string written.
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
