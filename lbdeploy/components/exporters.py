"""Debian's node_exporter and, on an anycast pair, its FRR exporter: installed only when
the inventory asks (`stats.exporters`), each listening on the node's own addresses (those
the stats page binds) behind the stats credentials (docs/metrics.md).

Both Debian 12 builds (node_exporter 1.5.0, frr_exporter 1.1.4, on exporter-toolkit
0.8.2) take a repeatable `--web.listen-address` and `--web.config.file`, and read the
web config again at every request: a new password needs no restart. The toolkit has no
checker of that file, so it is checked here, parsed back and verified, before upload.

The bcrypt salt is random at every render, so no two installations (or nodes, or
passwords) share one and nobody can precompute a dictionary for a node's name. A re-run
still changes nothing: the facts read the live web config (a bcrypt hash, kept out of
every report) and the plan keeps it while it is lbdeploy's file for the same user and
password (`same_web_config`), whatever its salt.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import partial

import bcrypt
import jinja2
import yaml

from lbdeploy.addresses import hostport
from lbdeploy.components.base import Component, Context
from lbdeploy.core.desired import PairState
from lbdeploy.core.facts import live_text_lines
from lbdeploy.core.files import ManagedFile, OnChange
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import Secret

# bcrypt's cost: the exporter checks a scrape's password at this cost (about 50 ms);
# exporter-toolkit caches a good one, so a scrape every 15 s costs nearly nothing.
BCRYPT_COST = 10
# bcrypt's salt: 16 random bytes (128 bits) at every render.
SALT_BYTES = 16
# bcrypt reads at most 72 bytes of a password (pyca/bcrypt 5 refuses a longer one).
BCRYPT_MAX = 72
WEB_DIR = "/etc/prometheus"


@dataclass(frozen=True)
class Exporter:
    """One of Debian's exporters: its package (also its unit), port and the group its
    unit runs as, which must read the web config."""

    package: str
    port: int
    group: str

    @property
    def defaults(self) -> str:
        """Debian's EnvironmentFile for the unit: `ExecStart=... $ARGS`."""
        return f"/etc/default/{self.package}"

    @property
    def web_config(self) -> str:
        return f"{WEB_DIR}/{self.package}-web.yml"


# Debian 12's units: node_exporter runs as User=prometheus (its group prometheus);
# the FRR exporter as User=frr, Group=frrvty.
NODE_EXPORTER = Exporter("prometheus-node-exporter", 9100, "prometheus")
FRR_EXPORTER = Exporter("prometheus-frr-exporter", 9342, "frrvty")


def exporters_of(pair: PairState) -> tuple[Exporter, ...]:
    """The pair's exporters: none unless asked; the FRR one only where FRR runs."""
    if pair.stats is None or not pair.stats.exporters:
        return ()
    return (NODE_EXPORTER, *((FRR_EXPORTER,) if pair.anycast is not None else ()))


class Exporters(Component):
    name = "exporters"

    def wanted(self, pair: PairState) -> bool:
        return bool(exporters_of(pair))

    def packages(self, pair: PairState) -> tuple[str, ...]:
        return tuple(e.package for e in exporters_of(pair))

    def units(self, pair: PairState) -> tuple[str, ...]:
        return tuple(e.package for e in exporters_of(pair))

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return tuple(p for e in exporters_of(pair) for p in (e.web_config, e.defaults))

    def fact_lines(self, pair: PairState) -> Script:
        """The live web configs: a salt of its own still takes the same password."""
        return live_text_lines(e.web_config for e in exporters_of(pair))

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        stats = ctx.pair.stats
        assert stats is not None, "exporters_of: only with stats"
        found = []
        for exporter in exporters_of(ctx.pair):
            web = web_config(stats.user, stats.password, ctx.entropy(SALT_BYTES))
            check_web_config(web, stats.user, stats.password)
            found += [
                # Before the ARGS that name it; the toolkit reads it at every request.
                ManagedFile(
                    exporter.web_config,
                    web,
                    0o640,
                    group=exporter.group,
                    secret=True,
                    about=f"{exporter.package}'s basic auth (stats user)",
                    same_as_live=partial(same_web_config, stats.user, stats.password),
                ),
                ManagedFile(
                    exporter.defaults,
                    defaults(exporter, [hostport(a, exporter.port) for a in ctx.node.addresses]),
                    0o644,
                    on_change=OnChange(exporter.package, "restart"),  # ARGS: read at start
                ),
            ]
        return found


def defaults(exporter: Exporter, listen: list[str]) -> str:
    """The unit's ARGS: the node's own addresses only, and the web config."""
    args = [f"--web.listen-address={a}" for a in listen]
    args.append(f"--web.config.file={exporter.web_config}")
    return (
        "# lbdeploy: this node's own addresses only, behind the stats credentials.\n"
        f'ARGS="{" ".join(args)}"\n'
    )


def password_hash(password: Secret, salt: bytes) -> str:
    """bcrypt ($2b$) of the password with this 16-byte salt, in bcrypt's own base64."""
    standard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    encoded = base64.b64encode(salt).decode()[:22].translate(str.maketrans(standard, alphabet))
    setting = f"$2b${BCRYPT_COST:02d}${encoded}".encode()
    return bcrypt.hashpw(password.reveal().encode(), setting).decode()


def web_config(user: str, password: Secret, salt: bytes) -> str:
    """exporter-toolkit's web config: basic auth for the stats user (JSON strings are YAML)."""
    return web_config_text(user, password_hash(password, salt))


def web_config_text(user: str, hashed: str) -> str:
    """The file around one user's bcrypt hash: what `same_web_config` rebuilds too."""
    return (
        "# lbdeploy: the stats credentials (exporter-toolkit web config).\n"
        "basic_auth_users:\n"
        f"  {json.dumps(user)}: {json.dumps(hashed)}\n"
    )


def same_web_config(user: str, password: Secret, live: str) -> bool:
    """Whether the live file is lbdeploy's web config for this user and password, with
    any salt: it keeps its own salt, and a re-run uploads nothing.

    Byte for byte what lbdeploy would write around the live hash (no other user, no
    edit), at lbdeploy's cost, and the hash takes the password (bcrypt, about 50 ms).
    """
    try:
        users = yaml.safe_load(live)
    except yaml.YAMLError:
        return False
    found = users.get("basic_auth_users") if isinstance(users, dict) else None
    hashed = found.get(user) if isinstance(found, dict) else None
    if not isinstance(hashed, str) or not hashed.startswith(f"$2b${BCRYPT_COST:02d}$"):
        return False
    if live != web_config_text(user, hashed):
        return False
    try:
        return bcrypt.checkpw(password.reveal().encode(), hashed.encode())
    except ValueError:  # not a bcrypt hash after all
        return False


def check_web_config(text: str, user: str, password: Secret) -> None:
    """What exporter-toolkit will read: the user, and a hash that takes the password.

    The toolkit ships no checker (an exporter refuses a bad file only when it starts or
    at the next scrape), so the file is parsed back and verified before it is uploaded.
    """
    users = (yaml.safe_load(text) or {}).get("basic_auth_users")
    if not isinstance(users, dict) or set(users) != {user}:
        raise ValueError(f"exporter web config: basic_auth_users must hold {user!r} alone")
    if not bcrypt.checkpw(password.reveal().encode(), str(users[user]).encode()):
        raise ValueError("exporter web config: the hash does not take the stats password")
