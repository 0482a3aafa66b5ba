"""The secrets an inventory holds, so that no error message can echo one.

Messages quote what the user wrote ("'x' is not a usable name"), which is right for a
name and wrong for a password pasted into the wrong place: error output ends up in CI
logs. So every problem's field and message is masked with the secrets found here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbdeploy.inventory.proxy import Stats
from lbdeploy.inventory.vrrp import VrrpInstance

_SHORTEST = 4  # masking "ab" everywhere would garble messages more than it protects


def secrets_in(data: Any, env: Mapping[str, str]) -> list[str]:
    """Secret values in parsed inventory data, longest first.

    Besides `stats.password` and `vrrp[].auth_pass` (literal or from the environment), a
    bare word in those sections counts: `stats: {user: admin, hunter2}` forgot its key.
    """
    if not isinstance(data, dict):
        return []
    sections: list[tuple[Any, str, Mapping[str, Any]]] = [
        (data.get("stats"), "password", Stats.model_fields)
    ]
    vrrp = data.get("vrrp")
    for inst in vrrp if isinstance(vrrp, list) else [vrrp]:
        sections.append((inst, "auth_pass", VrrpInstance.model_fields))
    given: list[Any] = []
    for section, key, fields in sections:
        if not isinstance(section, dict):
            continue
        given.append(_value(section.get(key), env))
        given.extend(k for k, v in section.items() if k not in fields and v is None)
    found = {str(v) for v in given if isinstance(v, str | int) and not isinstance(v, bool)}
    return sorted((s for s in found if len(s) >= _SHORTEST), key=len, reverse=True)


def _value(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict) and isinstance(value.get("env"), str):
        return env.get(value["env"])
    return value


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
