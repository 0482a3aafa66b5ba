"""The certificate limits the inventory enforces are the nodes' own: `haproxy -c` (with
its OpenSSL at security level 2) refuses each certificate the inventory refuses for
strength, and serves each one it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checkers.test_daemons_accept import haproxy_check

pytestmark = pytest.mark.daemons

CERTS = Path(__file__).parent.parent / "unit" / "data" / "certs"
CONFIG = """\
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s

listen shop
    bind 127.0.0.1:18443 ssl crt {pem}
    server web1 192.168.1.21:8080
"""


def _check_with(stem: str, tmp_path: Path) -> tuple[int, str]:
    pem = tmp_path / f"{stem}.pem"
    pem.write_text((CERTS / f"{stem}.crt").read_text() + (CERTS / f"{stem}.key").read_text())
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG.format(pem=pem))
    result = haproxy_check(cfg)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("stem", ["rsa1024", "ec-p192", "sha1", "int-sha1", "int-rsa1024"])
def test_haproxy_refuses_what_the_inventory_refuses_for_strength(stem: str, tmp_path: Path) -> None:
    code, output = _check_with(stem, tmp_path)
    assert code != 0 and "unable to load" in output, output


@pytest.mark.parametrize("stem", ["shop", "shop-rsa", "ed25519", "root-sha1", "wild"])
def test_haproxy_loads_what_the_inventory_accepts(stem: str, tmp_path: Path) -> None:
    code, output = _check_with(stem, tmp_path)
    assert code == 0, output
