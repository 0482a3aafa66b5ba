"""Every golden route of tests/unit/data/ssh_config_ok/ is the one OpenSSH resolves.

Asks the local client, `ssh -G -F FILE host` (it prints the configuration it would use and
connects nowhere), for each host of a route, and walks the ProxyJump chain with lbdeploy's
own `route()` over those answers: the lookups are OpenSSH's, the walk is the one
`ssh -v` shows (see jump_chain.conf).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from lbdeploy.core.targets import Explicit, route
from tests.unit.test_sshconfig import OK_CASES, routes_of, shown

pytestmark = [
    pytest.mark.openssh,
    pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client (ssh -G)"),
]


class OpenSshAnswers:
    """An SshConfig whose lookups are `ssh -G`'s."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, hostname: str) -> Mapping[str, Any]:
        printed = subprocess.run(
            ["ssh", "-G", "-F", str(self.path), hostname],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        wanted = ("hostname", "user", "port", "proxyjump")
        return {
            k: v
            for k, _, v in (line.partition(" ") for line in printed.splitlines())
            if k in wanted
        }


@pytest.mark.parametrize("case", OK_CASES, ids=[c.stem for c in OK_CASES])
def test_ssh_resolves_each_golden_route(case: Path) -> None:
    for alias, hops in routes_of(case).items():
        assert shown(route(OpenSshAnswers(case), alias, Explicit())) == hops, alias
