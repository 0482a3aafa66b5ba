"""Desired state → the files a node should have, rendered with Jinja2.

Templates only loop and branch over PairState and NodeState; every value in them was
checked by the inventory model, so nothing here escapes or second-guesses. Each
component renders its own files as `ManagedFile` records (`components/*.py`); this
module compiles the templates once and walks the components.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources

import jinja2

from lbdeploy.addresses import hostport
from lbdeploy.components import for_pair
from lbdeploy.components.base import Context
from lbdeploy.core.desired import NodeState, PairState
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.platforms import Platform

DEFAULT_PLATFORM = Platform()


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


def managed_paths(pair: PairState) -> list[str]:
    """Every path a node may hold for lbdeploy, whatever its stack: what facts look at."""
    return list(dict.fromkeys(p for c in for_pair(pair) for p in c.paths(pair)))


def render_node(
    pair: PairState,
    node: NodeState,
    platform: Platform = DEFAULT_PLATFORM,
    env: jinja2.Environment | None = None,
    entropy: Callable[[int], bytes] = os.urandom,
) -> dict[str, ManagedFile]:
    """Every managed file of one node, keyed by remote path, in the order they apply.

    `entropy`: where random salts come from (a fixed source in golden tests); a file
    with one says when the live copy means the same (`ManagedFile.same_as_live`).
    """
    env = env or make_environment()
    ctx = Context(pair, node, platform, entropy)
    return {f.path: f for c in for_pair(pair) for f in c.files(ctx, env)}
