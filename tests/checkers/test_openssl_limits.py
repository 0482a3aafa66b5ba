"""The certificate limits the inventory enforces are the nodes' own: `haproxy -c` (with
its OpenSSL at security level 2) refuses each certificate the inventory refuses for
strength, and serves each one it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbdeploy.errors import InventoryError
from lbdeploy.inventory import load_inventory
from lbdeploy.inventory.openssl import INTERMEDIATE_CIPHERS, INTERMEDIATE_SUITES
from tests.checkers.test_daemons_accept import haproxy_check

pytestmark = pytest.mark.daemons

DATA = Path(__file__).parent.parent / "unit" / "data"
CERTS = DATA / "certs"
CONFIG = """\
global
    ssl-default-bind-ciphers {ciphers}
    ssl-default-bind-ciphersuites {suites}

defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s

listen shop
    bind 127.0.0.1:18443 ssl crt {pem}
    server web1 192.168.1.21:8080
"""


def _check_with(
    stem: str,
    tmp_path: Path,
    ciphers: str = INTERMEDIATE_CIPHERS,
    suites: str = INTERMEDIATE_SUITES,
) -> tuple[int, str]:
    pem = tmp_path / f"{stem}.pem"
    pem.write_text((CERTS / f"{stem}.crt").read_text() + (CERTS / f"{stem}.key").read_text())
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG.format(pem=pem, ciphers=ciphers, suites=suites))
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


def _lists_of(case: Path) -> tuple[str, str]:
    """The cipher lists an inventory case gives, as written (it may not load)."""
    lines = case.read_text().splitlines()
    found = {}
    for key in ("ciphers", "ciphersuites"):
        line = next(line for line in lines if line.strip().startswith(f"{key}:"))
        found[key] = line.split(":", 1)[1].strip().strip('"')
    return found["ciphers"], found["ciphersuites"]


@pytest.mark.parametrize(
    "case",
    ["inventory_errors/tls_ciphers_pick_nothing", "inventory_errors/tls_ciphersuites_tls12_name"],
)
def test_haproxy_refuses_a_cipher_list_the_inventory_refuses(case: str, tmp_path: Path) -> None:
    path = DATA / f"{case}.yaml"
    with pytest.raises(InventoryError, match="HAProxy would not start"):
        load_inventory(path, {})
    code, output = _check_with("shop", tmp_path, *_lists_of(path))
    assert code != 0 and "unable to set" in output, output


def test_haproxy_takes_the_cipher_lists_the_inventory_takes(tmp_path: Path) -> None:
    inv = load_inventory(DATA / "inventory_ok" / "tls_cipher_lists_openssl_takes.yaml", {})
    tls = inv.haproxy.tls
    code, output = _check_with("shop", tmp_path, tls.ciphers, tls.ciphersuites)
    assert code == 0, output
