"""Field types of the inventory: each validator says what is wrong in a sysadmin's words.

A value that would break or inject into keepalived.conf or haproxy.cfg is refused here,
before anything is rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetCoreSchemaHandler,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import core_schema

from lbdeploy.inventory.haproxy import check_line
from lbdeploy.inventory.scalars import flag, seconds, whole_number
from lbdeploy.scripts.shell import Secret

# Characters that end a token, start a comment or open a block in keepalived.conf or
# haproxy.cfg. A value holding one would break the file or inject into it.
_BREAKING = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    " ": "a space",
    '"': 'a quote (")',
    "'": "a quote (')",
    "#": "a '#' (starts a comment)",
    "!": "a '!' (starts a comment in keepalived.conf)",
    "{": "a '{' (opens a block)",
    "}": "a '}' (closes a block)",
    "\\": "a backslash",
}


def _breaking_char(value: str, allowed: str = "") -> str | None:
    for ch in value:
        if ch in _BREAKING and ch not in allowed:
            return _BREAKING[ch]
        if ord(ch) < 32 or ord(ch) == 127:
            return "a control character"
        if not ch.isprintable():
            return _invisible(ch)
    return None


def _invisible(ch: str) -> str:
    """Line separators, format and other non-printing characters, e.g. U+200B, U+202E."""
    return f"an invisible or non-printing character (U+{ord(ch):04X})"


def _config_word(value: str, allowed: str = "") -> str:
    if not value:
        raise ValueError("must not be empty")
    found = _breaking_char(value, allowed)
    if found:
        raise ValueError(f"contains {found}, which would break the generated config")
    return value


def _haproxy_word(value: str) -> str:
    """A word that goes into haproxy.cfg alone, where '!' starts no comment (`!aNULL`)."""
    return _config_word(value, allowed="!")


def _whole_match(pattern: re.Pattern[str], value: str, expected: str) -> str:
    """`value` when `pattern` matches all of it; else an error saying it is not `expected`."""
    if not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not {expected}")
    return value


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _name(value: str) -> str:
    return _whole_match(
        _NAME,
        value,
        "a usable name: use letters, digits, '.', '_' or '-', "
        "starting with a letter or digit, at most 63 characters",
    )


@dataclass(frozen=True)
class _Between:
    """A whole number in lo..hi, written as a plain decimal (see scalars.whole_number)."""

    lo: int
    hi: int

    def check(self, value: int) -> int:
        if not self.lo <= value <= self.hi:
            raise ValueError(f"must be {self.lo}..{self.hi}, got {value}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        checked = core_schema.no_info_after_validator_function(self.check, handler(source))
        return core_schema.no_info_before_validator_function(whole_number, checked)


def between(lo: int, hi: int) -> Any:
    return _Between(lo, hi)


_PATH = re.compile(r"/[A-Za-z0-9._~/?=&%+-]*")


def _url_path(value: str) -> str:
    return _whole_match(_PATH, value, "a plain URL path: start with '/', no spaces, quotes or '#'")


_TIMEOUT = re.compile(r"([0-9]+)(us|ms|s|m|h|d)?")
# Milliseconds per unit as (numerator, denominator); no unit is milliseconds.
_UNIT_MS = {"us": (1, 1000), "ms": (1, 1), None: (1, 1), "s": (1000, 1), "m": (60_000, 1)}
_UNIT_MS |= {"h": (3_600_000, 1), "d": (86_400_000, 1)}
# HAProxy's parse_time_err() (src/tools.c) rounds a time up to whole milliseconds and
# refuses 2^31 ms or more: "timer overflow ... (maximum value is 2147483647 ms or ~24.8
# days)", checked with haproxy 2.6 -c (24d passes, 25d fails).
MAX_TIMER_MS = 2**31 - 1


def timeout_ms(text: str) -> int:
    """An HAProxy time already checked by `Timeout`, in milliseconds (rounded up, as HAProxy)."""
    found = _TIMEOUT.fullmatch(text)
    assert found, "checked by Timeout"
    num, den = _UNIT_MS[found.group(2)]
    return -(-int(found.group(1)) * num // den)


def _timeout(value: Any) -> str:
    text = str(value)
    found = _TIMEOUT.fullmatch(text)
    if not found:
        raise ValueError(f"{text!r} is not an HAProxy time (e.g. 5s, 500ms, 1m)")
    digits = found.group(1)
    if len(digits) > 18 or timeout_ms(text) > MAX_TIMER_MS:
        raise ValueError(
            f"{text[:24]} is past HAProxy's longest timeout, {MAX_TIMER_MS} ms (about 24.8 days)"
        )
    if int(digits) == 0:
        # A zero timeout is none at all: `haproxy -c` warns "missing timeouts".
        raise ValueError(
            f"{text} means no timeout at all in HAProxy: a stuck connection is never closed;"
            " give a duration such as 50s"
        )
    return text


def _alpn(value: str) -> str:
    """ALPN protocol names, comma-separated: each 1..255 bytes (RFC 7301 3.1).

    HAProxy refuses a longer name ("ALPN protocol name too long", src/cfgparse-ssl.c) but
    passes an empty one (`h2,,http/1.1`) into the handshake, where RFC 7301 forbids it.
    """
    for name in value.split(","):
        size = len(name.encode())
        if not size:
            raise ValueError(f"{value!r} holds an empty protocol name; separate names by one comma")
        if size > 255:
            raise ValueError(
                f"the protocol name {name[:20]}... is {size} bytes long; an ALPN name is"
                " at most 255 bytes"
            )
    return value


def _to_secret(value: Any, info: ValidationInfo) -> Secret:
    """A secret is a literal string or {env: NAME}, read from the environment given."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, dict):
        if set(value) != {"env"} or not isinstance(value["env"], str):
            raise ValueError("a secret is a string or {env: VARIABLE_NAME}")
        env = (info.context or {}).get("env", {})
        name = value["env"]
        if name not in env:
            raise ValueError(f"environment variable {name} is not set")
        value = env[name]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # the loader types only numbers whose str() is what was written
    if not isinstance(value, str):
        raise ValueError("a secret is a string or {env: VARIABLE_NAME}")
    return Secret(_config_word(value))


_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def _interface_name(value: str) -> str:
    """The interface keepalived sends VRRP on: a real, broadcast-capable Linux interface."""
    if ":" in value:
        raise ValueError(
            f"{value!r} is an address label (alias), not an interface; VRRP runs on the "
            f"interface itself ({value.split(':')[0]!r})"
        )
    if value == "lo":
        raise ValueError("'lo' is the loopback interface; VRRP cannot reach the other nodes on it")
    if value in (".", "..") or not _IFNAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an interface name: up to 15 letters, digits, '.', '_' or '-'"
        )
    return value


_LOGIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")


def _login(value: str) -> str:
    """An SSH login is a Unix user name (adduser's rules), never an option like '-oX'."""
    return _whole_match(
        _LOGIN,
        value,
        "a user name: up to 32 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
    )


_STATS_USER = re.compile(r"[A-Za-z0-9_.@+:-]{1,64}")


def _stats_user(value: str) -> str:
    """Browsers encode non-ASCII basic-auth names differently, so keep the name plain ASCII."""
    return _whole_match(
        _STATS_USER, value, "a plain user name: letters, digits, '.', '_', '-', '@' or '+'"
    )


def _local_path(value: str) -> str:
    """A path on the operator's machine; only '~/' is expanded (Path.expanduser would raise
    for an unknown '~user')."""
    if not value:
        raise ValueError("must not be empty")
    if not value.isprintable():
        raise ValueError("contains a control or non-printing character")
    if value.startswith("~") and value != "~" and not value.startswith("~/"):
        raise ValueError(f"{value!r}: only '~/' is expanded; write the other home directory out")
    return value


Name = Annotated[str, AfterValidator(_name)]
# /126 is the narrowest IPv6 prefix with room for two nodes and a VIP; wider than /16 is
# no LAN.
Prefix6 = Annotated[int, between(16, 126)]
Port = Annotated[
    int, between(1, 65535), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535})
]
ConfigWord = Annotated[str, AfterValidator(_config_word)]
HaproxyWord = Annotated[str, AfterValidator(_haproxy_word)]
Alpn = Annotated[str, AfterValidator(_haproxy_word), AfterValidator(_alpn)]
LoginName = Annotated[str, AfterValidator(_config_word), AfterValidator(_login)]
StatsUser = Annotated[str, AfterValidator(_config_word), AfterValidator(_stats_user)]
InterfaceName = Annotated[str, AfterValidator(_interface_name)]
LocalPath = Annotated[str, AfterValidator(_local_path)]
Flag = Annotated[bool, BeforeValidator(flag)]
Seconds = Annotated[float, BeforeValidator(seconds)]
UrlPath = Annotated[str, AfterValidator(_url_path)]
Timeout = Annotated[str, BeforeValidator(_timeout)]
HaproxyLine = Annotated[str, AfterValidator(check_line)]
SecretValue = Annotated[
    Secret,
    PlainValidator(_to_secret),
    PlainSerializer(str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {"env": {"type": "string"}},
                    "required": ["env"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]
