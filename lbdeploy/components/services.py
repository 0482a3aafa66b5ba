"""Service actions → the script that carries them out: each unit's owner says how."""

from __future__ import annotations

from lbdeploy.components import owner
from lbdeploy.components.base import ServiceAction
from lbdeploy.core.desired import PairState
from lbdeploy.core.paths import PENDING
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd


def services_script(pair: PairState, actions: tuple[ServiceAction, ...]) -> Script:
    """Enable and (re)load services; reload-or-restart starts a stopped one."""
    script = Script()
    # One `systemctl enable` for every unit: each call reloads systemd (0.1 s here).
    enable = [a.service for a in actions if a.enable]
    if enable:
        script.run(cmd("systemctl enable -q {units}", units=enable))
    for action in actions:
        unit = action.service
        component = owner(pair, unit)
        own = component.service_lines(action) if component is not None else None
        if own is not None:
            script.extend(own)
        elif action.action == "restart":
            script.run(cmd("systemctl restart {unit}", unit=unit))
        elif action.action in ("reload", "start", "ssl-cert"):
            script.run(cmd("systemctl reload-or-restart {unit}", unit=unit))
        if action.action != "enable":
            script.run(cmd("rm -f {f}", f=f"{PENDING}/{unit}"))
    if actions:
        script.run(cmd("systemctl is-active -q {units}", units=[a.service for a in actions]))
    return script
