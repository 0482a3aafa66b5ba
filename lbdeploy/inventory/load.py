"""YAML → plain data that remembers where each key and value stood, then → Inventory.

Positions let every error, whether from YAML, pydantic or a cross-field check, name
`file:line:col: field: message`, as Ansible's YAML constructor does.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lbdeploy.errors import InventoryError, Problem
from lbdeploy.inventory.acme import FORM_TAGS
from lbdeploy.inventory.checks import check_inventory
from lbdeploy.inventory.masking import redact, secrets_in
from lbdeploy.inventory.model import Inventory
from lbdeploy.inventory.text import Limits, YamlProblem, check_text, decode
from lbdeploy.inventory.tree import Loc, Located, compose_yaml

LIMITS = Limits()


def format_loc(loc: Loc) -> str:
    """('services', 0, 'servers', 1, 'port') → 'services[0].servers[1].port'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _fields_at(loc: Loc) -> list[str]:
    """Field names of the model(s) that `loc` (a path to a mapping) points into; a field
    of several forms (`tls`: files or ACME) offers the fields of each."""
    return list(dict.fromkeys(_fields_of(Inventory, loc)))


def _alternatives(tp: Any) -> list[Any]:
    """A type without Annotated and None, each member of a union apart."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return [a for arg in members for a in _alternatives(arg)]
    return [tp]


def _fields_of(tp: Any, loc: Loc) -> list[str]:
    found: list[str] = []
    for current in _alternatives(tp):
        is_model = isinstance(current, type) and issubclass(current, BaseModel)
        if not loc:
            found += list(current.model_fields) if is_model else []
        elif is_model:
            info = current.model_fields.get(str(loc[0]))
            found += _fields_of(info.annotation, loc[1:]) if info is not None else []
        elif typing.get_origin(current) in (list, dict):
            found += _fields_of(typing.get_args(current)[-1], loc[1:])
    return found


def _message(error: Mapping[str, Any]) -> tuple[str, bool]:
    """A pydantic error in plain words; the flag says whether it concerns the key itself."""
    kind = error["type"]
    loc = tuple(p for p in error["loc"] if p not in FORM_TAGS)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        hint = difflib.get_close_matches(key, _fields_at(loc[:-1]), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"unknown key '{key}'{suggestion}", True
    if kind == "missing":
        return "required, but missing", False
    if kind == "string_type":
        return _not_text(error.get("input")), False
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "literal_error":
        message = f"must be one of {error['ctx']['expected']}"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} does not match {error['ctx']['pattern']}"
    return message, False


# Where null is a word of its own, "none" (the README's `config_file: null`), rather than
# "leave the default", which is refused everywhere else.
NULL_MEANS_NONE = frozenset({("ssh", "config_file")})
_NULL_MESSAGE = "is empty (null or ~); leave the key out for its default, or quote the word"


def _nulls(data: Any, loc: Loc) -> list[Loc]:
    """Where the file says null: never taken as "use the default" (`auth_pass: null` would
    silently turn authentication off, `master: null` would pick another node)."""
    if data is None:
        return [loc]
    if isinstance(data, dict):
        return [n for key, value in data.items() for n in _nulls(value, (*loc, key))]
    if isinstance(data, list):
        return [n for i, value in enumerate(data) for n in _nulls(value, (*loc, i))]
    return []


def _not_text(value: Any) -> str:
    """Why a field that takes text got something else, in YAML's words."""
    if isinstance(value, bool):
        word = str(value).lower()
        return f"{word} is read as a boolean here; quote it ('{word}') to mean the word"
    if isinstance(value, dict | list):
        return f"must be a single value, not a {'mapping' if isinstance(value, dict) else 'list'}"
    return "must be text"


def _unwrap_single_vrrp(raw: dict[str, Any]) -> bool:
    """Accept `vrrp:` as one mapping or a list; the model always sees a list."""
    if isinstance(raw.get("vrrp"), dict):
        raw["vrrp"] = [raw["vrrp"]]
        return True
    return False


def load_inventory(path: str | Path, env: Mapping[str, str], limits: Limits = LIMITS) -> Inventory:
    """Read and validate an inventory; raise InventoryError listing every problem found."""
    path = Path(path)
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InventoryError([Problem(name, 1, 1, "", f"cannot read: {reason}")]) from None
    try:
        text = decode(data, limits)
    except YamlProblem as exc:
        raise InventoryError([Problem(name, exc.line, exc.column, "", exc.message)]) from None
    return parse_inventory(text, name, env, limits, base=path.resolve().parent)


def locate(path: Path, loc: Loc, message: str) -> InventoryError:
    """A problem found after loading (in a file the inventory names), at its place in the
    inventory: read again, since only an error needs the positions."""
    try:
        with path.open("rb") as handle:
            text = decode(handle.read(LIMITS.max_bytes + 1), LIMITS)
        line, column = parse_yaml(text, str(path)).mark(loc)
    except (OSError, YamlProblem, InventoryError):
        line, column = 1, 1
    return InventoryError([Problem(str(path), line, column, format_loc(loc), message)])


def parse_yaml(text: str, name: str, limits: Limits = LIMITS) -> Located:
    """Check and parse inventory text; InventoryError, located, if it is not usable YAML."""
    try:
        check_text(text, limits)
        return compose_yaml(text, limits)
    except YamlProblem as exc:
        raise InventoryError([Problem(name, exc.line, exc.column, "", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise InventoryError(
            [Problem(name, line, col, "", f"not valid YAML: {exc.problem}")]
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(name, 1, 1, "", f"not valid YAML: {exc}")]) from None


def _single(raw: dict[str, Any], key: str) -> set[int]:
    """Services whose `key:` is one value, not a list (the model sees a list of one)."""
    services = raw.get("services")
    if not isinstance(services, list):
        return set()
    return {
        i
        for i, s in enumerate(services)
        if isinstance(s, dict) and key in s and not isinstance(s[key], list)
    }


@dataclass
class _Places:
    """Where a problem stands in the file: a shorthand (`vrrp:` as a mapping, one `tls:`
    or `vip:` instead of a list) is validated as a one-item list, located as written."""

    located: Located
    name: str
    secrets: list[str]
    single_vrrp: bool = False
    single: dict[str, set[int]] = field(default_factory=lambda: {"tls": set(), "vip": set()})

    def in_file(self, loc: Loc) -> Loc:
        if self.single_vrrp and loc[:2] == ("vrrp", 0):
            return ("vrrp", *loc[2:])
        if (
            loc[:1] == ("services",)
            and len(loc) >= 4
            and loc[3] == 0
            and loc[1] in self.single.get(str(loc[2]), ())
        ):
            return (*loc[:3], *loc[4:])
        return loc

    def problem(self, loc: Loc, message: str, at_key: bool = False) -> Problem:
        line, col = self.located.mark(self.in_file(loc), prefer_key=at_key)
        field = redact(format_loc(self.in_file(loc)), self.secrets)
        return Problem(self.name, line, col, field, redact(message, self.secrets))


def parse_inventory(
    text: str,
    name: str,
    env: Mapping[str, str],
    limits: Limits = LIMITS,
    base: Path | None = None,
) -> Inventory:
    """Validate inventory text; `name` is what error messages call the file, `base` the
    folder its relative paths (certificates) start from."""
    located = parse_yaml(text, name, limits)
    places = _Places(located, name, secrets_in(located.data, env))
    if not isinstance(located.data, dict):
        raise InventoryError([Problem(name, 1, 1, "", "the inventory must be a YAML mapping")])
    early = [
        places.problem(d, f"'{d[-1]}' is given twice; names and keys must be unique", True)
        for d in located.duplicates
    ] + [
        places.problem(loc, _NULL_MESSAGE)
        for loc in _nulls(located.data, ())
        if loc not in NULL_MEANS_NONE
    ]
    if early:
        raise InventoryError(sorted(early, key=lambda p: (p.line, p.column)))
    places.single_vrrp = _unwrap_single_vrrp(located.data)
    places.single = {key: _single(located.data, key) for key in places.single}
    context = {"env": dict(env), "base": base or Path.cwd()}
    try:
        inventory = Inventory.model_validate(located.data, context=context)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(p for p in error["loc"] if p != "[key]" and p not in FORM_TAGS)
            message, at_key = _message(error)
            problems.append(places.problem(loc, message, at_key or "[key]" in error["loc"]))
        raise InventoryError(problems) from None
    found = [places.problem(loc, message) for loc, message in check_inventory(inventory)]
    if found:
        raise InventoryError(found)
    return inventory
