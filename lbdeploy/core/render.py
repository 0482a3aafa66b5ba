"""Desired state → the files a node should have, rendered with Jinja2.

Templates only loop and branch over PairState and NodeState; every value in them was
checked by the inventory model, so nothing here escapes or second-guesses. Each file
comes out as one `ManagedFile` record: adding a managed file is a template plus one
entry in `render_node`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from lbdeploy.core.addresses import hostport
from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.core.paths import (
    ALERTS_FILE,
    DEFAULT_HAPROXY,
    HAPROXY_CFG,
    HAPROXY_DROPIN,
    HAPROXY_SOCKET,
    KEEPALIVED_CONF,
    KEEPALIVED_DROPIN,
    NOTIFY_SCRIPT,
    SCRIPT_USER,
    SERVER_STATE,
    STANDBY_FILE,
    SYSCTL_CONF,
    interface_stanza,
    netplan_file,
)
from lbdeploy.core.platforms import Platform, Stack
from lbdeploy.scripts.shell import sh

DEFAULT_PLATFORM = Platform()

_SCRIPT_USER_LINE = re.compile(r"^(\s*script_user\s+)\S+.*$", re.MULTILINE)


def keepalived_test_copy(content: str) -> str:
    """The same config with `script_user root`, for `keepalived -t` alone.

    keepalived 2.2.7's config test is killed (exit 143) whenever a non-root
    script_user is set, even for a valid file; only that one line differs.
    """
    return _SCRIPT_USER_LINE.sub(r"\1root", content)


HAPROXY_CHECK = Validator(("haproxy", "-c", "-f"))
KEEPALIVED_CHECK = Validator(("keepalived", "-t", "-f"), test_copy=keepalived_test_copy)
RELOAD_HAPROXY = OnChange("haproxy", "reload")
RELOAD_KEEPALIVED = OnChange("keepalived", "reload")
SH_CHECK = Validator(("sh", "-n"))
SSL_CERT = OnChange("haproxy", "ssl-cert")
DAEMON_RELOAD = sh("systemctl", "daemon-reload")


def make_environment() -> jinja2.Environment:
    """StrictUndefined: a typo in a template fails the render, not the daemon.

    Every template is compiled here, once: Jinja2 does not lock its cache while it
    compiles, so nodes rendering at once in their threads each compiled the same
    templates again (about 20 ms a node, under the GIL).
    """
    folder = resources.files("lbdeploy").joinpath("templates")

    def load(name: str) -> str:
        return folder.joinpath(name).read_text()

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # HAProxy rejects a last line without LF
        autoescape=False,
    )
    env.filters["hostport"] = hostport
    for entry in folder.iterdir():
        if entry.name.endswith(".j2"):
            env.get_template(entry.name)
    return env


# `netplan generate` on a copy of /etc/netplan with the staged file in place: the whole
# set must still parse ($1: the staged file, $2: where it goes).
NETPLAN_CHECK = Validator(
    (
        "sh",
        "-c",
        'd=$(mktemp -d) && trap \'rm -rf "$d"\' EXIT && mkdir -p "$d/etc/netplan"'
        ' && for f in /etc/netplan/*.yaml; do if [ -f "$f" ] && [ "$f" != "$2" ];'
        ' then cp -p "$f" "$d/etc/netplan/"; fi; done'
        ' && cp "$1" "$d/etc/netplan/${2##*/}" && netplan generate --root-dir "$d"',
        "netplan-check",
    ),
    with_target=True,
)


@dataclass(frozen=True)
class _Spec:
    """A managed file before rendering: its template and everything but its content."""

    path: str
    template: str
    mode: int
    options: dict[str, Any]


def _network_spec(pair: PairState, stack: Stack) -> _Spec | None:
    if not pair.interface.manage:
        return None
    iface = pair.interface.name
    if stack == "netplan":
        check = {"validate": NETPLAN_CHECK}
        return _Spec(netplan_file(iface), "netplan.yaml.j2", 0o600, {**PREPARE_NETWORK, **check})
    return _Spec(interface_stanza(iface), "interface.j2", 0o644, PREPARE_NETWORK)


PREPARE_NETWORK: dict[str, Any] = {"phase": Phase.PREPARE, "step": "network"}


def _specs(pair: PairState, stack: Stack) -> list[_Spec]:
    """Every file a node of this stack gets, in the order they apply."""
    secret = {"redact": pair.secrets}
    network = _network_spec(pair, stack)
    return [
        *([network] if network else []),
        _Spec(SYSCTL_CONF, "sysctl.conf.j2", 0o644, {"phase": Phase.PREPARE, "step": "sysctl"}),
        _Spec(
            KEEPALIVED_DROPIN,
            "keepalived-restart.conf.j2",
            0o644,
            {"phase": Phase.PREPARE, "step": "units", "then": DAEMON_RELOAD},
        ),
        _Spec(
            HAPROXY_DROPIN,
            "haproxy-state.conf.j2",
            0o644,
            {"phase": Phase.PREPARE, "step": "units", "then": DAEMON_RELOAD},
        ),
        _Spec(DEFAULT_HAPROXY, "default-haproxy.j2", 0o644, {"on_change": RELOAD_HAPROXY}),
        # Certificates with their keys: root only, never shown; staged with haproxy.cfg so
        # that `haproxy -c` checks the config with the new certificates.
        *(
            _Spec(
                bundle.path,
                "",
                0o600,
                {"secret": True, "on_change": SSL_CERT, "about": bundle.about},
            )
            for bundle in pair.bundles
        ),
        # Both configs hold a password: readable by root (and haproxy's group) only.
        _Spec(
            HAPROXY_CFG,
            "haproxy.cfg.j2",
            0o640,
            {"group": "haproxy", "validate": HAPROXY_CHECK, "on_change": RELOAD_HAPROXY, **secret},
        ),
        # keepalived's notify handler (journal line, metric, webhook) and the webhook's URL.
        _Spec(NOTIFY_SCRIPT, "vrrp-notify.sh.j2", 0o755, {"validate": SH_CHECK}),
        _Spec(ALERTS_FILE, "alerts.j2", 0o600, secret),
        _Spec(
            KEEPALIVED_CONF,
            "keepalived.conf.j2",
            0o640,
            {"validate": KEEPALIVED_CHECK, "on_change": RELOAD_KEEPALIVED, **secret},
        ),
    ]


def managed_paths(pair: PairState) -> list[str]:
    """Every path a node may hold for lbdeploy, whatever its stack: what facts look at."""
    paths: dict[str, None] = {}
    for stack in ("ifupdown", "netplan"):
        paths.update((spec.path, None) for spec in _specs(pair, stack))
    return list(paths)


def render_node(
    pair: PairState,
    node: NodeState,
    platform: Platform = DEFAULT_PLATFORM,
    env: jinja2.Environment | None = None,
) -> dict[str, ManagedFile]:
    """Every managed file of one node, keyed by remote path, in the order they apply."""
    env = env or make_environment()
    files = {}
    bundles = {b.path: b for b in pair.bundles}
    for spec in _specs(pair, platform.stack):
        if spec.path in bundles:
            content = bundles[spec.path].content
            files[spec.path] = ManagedFile(spec.path, content, spec.mode, **spec.options)
            continue
        content = env.get_template(spec.template).render(
            pair=pair,
            node=node,
            platform=platform,
            script_user=SCRIPT_USER,
            standby_file=STANDBY_FILE,
            socket=HAPROXY_SOCKET,
            state_file=SERVER_STATE,
            notify_script=NOTIFY_SCRIPT,
            alerts_file=ALERTS_FILE,
        )
        files[spec.path] = ManagedFile(spec.path, content, spec.mode, **spec.options)
    return files
