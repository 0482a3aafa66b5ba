"""NodeState → the files a node should have, rendered with Jinja2.

Templates only loop and branch over NodeState; every value in them was checked by the
inventory model, so nothing here escapes or second-guesses.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

import jinja2

from lbdeploy.desired import NodeState
from lbdeploy.facts import STANDBY_FILE

KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
SYSCTL_CONF = "/etc/sysctl.d/60-lbdeploy.conf"
DEFAULT_HAPROXY = "/etc/default/haproxy"
SCRIPT_USER = "keepalived_script"


def interface_path(interface: str) -> str:
    return f"/etc/network/interfaces.d/lbdeploy-{interface}"


@dataclass(frozen=True)
class FileSpec:
    """A managed file: where it goes, what it holds, who may read it."""

    path: str
    content: str
    mode: int
    owner: str = "root"
    group: str = "root"
    secret: bool = False  # holds a password: never shown unmasked

    @cached_property
    def sha256(self) -> str:
        """What facts report for the live file; compared by plan, drift and status."""
        return hashlib.sha256(self.content.encode()).hexdigest()


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


def render_node(state: NodeState, env: jinja2.Environment | None = None) -> dict[str, FileSpec]:
    """Every managed file of one node, keyed by remote path."""
    env = env or make_environment()

    def render(template: str) -> str:
        return env.get_template(template).render(
            node=state, script_user=SCRIPT_USER, standby_file=STANDBY_FILE
        )

    files = [
        FileSpec(interface_path(state.interface.name), render("interface.j2"), 0o644),
        FileSpec(SYSCTL_CONF, render("sysctl.conf.j2"), 0o644),
        FileSpec(DEFAULT_HAPROXY, render("default-haproxy.j2"), 0o644),
        # Both configs hold a password: readable by root (and haproxy's group) only.
        FileSpec(KEEPALIVED_CONF, render("keepalived.conf.j2"), 0o640, secret=True),
        FileSpec(HAPROXY_CFG, render("haproxy.cfg.j2"), 0o640, group="haproxy", secret=True),
    ]
    return {f.path: f for f in files}


_SCRIPT_USER_LINE = re.compile(r"^(\s*script_user\s+)\S+.*$", re.MULTILINE)


def keepalived_test_copy(content: str) -> str:
    """The same config with `script_user root`, for `keepalived -t` alone.

    keepalived 2.2.7's config test is killed (exit 143) whenever a non-root
    script_user is set, even for a valid file; only that one line differs.
    """
    return _SCRIPT_USER_LINE.sub(r"\1root", content)


def mask_secrets(content: str, state: NodeState) -> str:
    """The file as a human may see it: every password of this node replaced by ***."""
    secrets = [r.auth_pass.reveal() for r in state.vrrp if r.auth_pass is not None]
    if state.stats is not None:
        secrets.append(state.stats.password.reveal())
    for secret in sorted(secrets, key=len, reverse=True):
        content = content.replace(secret, "***")
    return content


_CONFIG_SECRETS = re.compile(r"^(\s*auth_pass\s+|\s*stats\s+auth\s+[^:\s]+:)\S+", re.MULTILINE)


def mask_config_secrets(content: str) -> str:
    """Any keepalived.conf or haproxy.cfg, even one lbdeploy did not write, passwords as ***."""
    return _CONFIG_SECRETS.sub(r"\1***", content)


def masked_diff(label: str, old: str, new: str) -> str:
    """A unified diff with passwords masked on both sides; says so when only they differ."""
    old_lines = mask_config_secrets(old).splitlines(keepends=True)
    new_lines = mask_config_secrets(new).splitlines(keepends=True)
    text = "".join(
        difflib.unified_diff(old_lines, new_lines, f"{label} (live)", f"{label} (lbdeploy)")
    )
    if not text and old != new:
        return f"--- {label}: only a password differs (not shown)\n"
    return text
