"""Desired state → the files a node should have, rendered with Jinja2.

Templates only loop and branch over PairState and NodeState; every value in them was
checked by the inventory model, so nothing here escapes or second-guesses. Each file
comes out as one `ManagedFile` record: adding a managed file is a template plus one
entry in `render_node`.
"""

from __future__ import annotations

import re
from importlib import resources

import jinja2

from lbdeploy.desired import NodeState, PairState
from lbdeploy.files import ManagedFile, OnChange, Phase, Validator
from lbdeploy.paths import (
    DEFAULT_HAPROXY,
    HAPROXY_CFG,
    KEEPALIVED_CONF,
    KEEPALIVED_DROPIN,
    SCRIPT_USER,
    STANDBY_FILE,
    SYSCTL_CONF,
    interface_stanza,
)
from lbdeploy.shell import sh

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
DAEMON_RELOAD = sh("systemctl", "daemon-reload")


def make_environment() -> jinja2.Environment:
    """StrictUndefined: a typo in a template fails the render, not the daemon."""

    def load(name: str) -> str:
        return resources.files("lbdeploy").joinpath("templates", name).read_text()

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # HAProxy rejects a last line without LF
        autoescape=False,
    )


def render_node(
    pair: PairState, node: NodeState, env: jinja2.Environment | None = None
) -> dict[str, ManagedFile]:
    """Every managed file of one node, keyed by remote path, in the order they apply."""
    env = env or make_environment()

    def render(template: str) -> str:
        return env.get_template(template).render(
            pair=pair, node=node, script_user=SCRIPT_USER, standby_file=STANDBY_FILE
        )

    secrets = pair.secrets
    files = [
        ManagedFile(
            interface_stanza(pair.interface.name),
            render("interface.j2"),
            0o644,
            phase=Phase.PREPARE,
            step="network",
        ),
        ManagedFile(
            SYSCTL_CONF, render("sysctl.conf.j2"), 0o644, phase=Phase.PREPARE, step="sysctl"
        ),
        ManagedFile(
            KEEPALIVED_DROPIN,
            render("keepalived-restart.conf.j2"),
            0o644,
            phase=Phase.PREPARE,
            step="units",
            then=DAEMON_RELOAD,
        ),
        ManagedFile(DEFAULT_HAPROXY, render("default-haproxy.j2"), 0o644, on_change=RELOAD_HAPROXY),
        # Both configs hold a password: readable by root (and haproxy's group) only.
        ManagedFile(
            HAPROXY_CFG,
            render("haproxy.cfg.j2"),
            0o640,
            group="haproxy",
            validate=HAPROXY_CHECK,
            on_change=RELOAD_HAPROXY,
            redact=secrets,
        ),
        ManagedFile(
            KEEPALIVED_CONF,
            render("keepalived.conf.j2"),
            0o640,
            validate=KEEPALIVED_CHECK,
            on_change=RELOAD_KEEPALIVED,
            redact=secrets,
        ),
    ]
    return {f.path: f for f in files}
