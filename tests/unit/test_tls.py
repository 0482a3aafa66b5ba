"""HTTPS services: certificates checked before any SSH, rendered as HAProxy wants them,
never shown, rotated through the runtime API when only they change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbdeploy.cli.app import app
from lbdeploy.components.services import services_script
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import parse_facts
from lbdeploy.core.plan import make_plan
from lbdeploy.core.render import render_node
from lbdeploy.errors import InventoryError
from lbdeploy.inventory.load import load_inventory
from lbdeploy.inventory.openssl import INTERMEDIATE_CIPHERS, INTERMEDIATE_SUITES
from lbdeploy.inventory.proxy import TlsSettings
from tests.tlsutil import cert_pem, issue, key_pem, make_ca, write_pair

DATA = Path(__file__).parent / "data"
LAB = (DATA / "render" / "lab" / "inventory.yaml").read_text()
BASE = LAB[: LAB.index("services:")] + "services:\n"
TLS_SERVICE = """\
  - name: shop
    port: 443
    tls:
{tls}
    redirect_http: true
    hsts: 31536000
    servers:
      - {{name: web1, address: 172.29.150.21, port: 8080}}
"""


def inventory(tmp: Path, tls: str) -> Path:
    path = tmp / "inventory.yaml"
    path.write_text(BASE + TLS_SERVICE.format(tls=tls))
    return path


@pytest.fixture
def ca():  # type: ignore[no-untyped-def]
    return make_ca()


@pytest.fixture
def two_names(tmp_path: Path, ca) -> Path:  # type: ignore[no-untyped-def]
    write_pair(tmp_path / "certs", "shop", ca, ["shop.example.org", "www.shop.example.org"])
    write_pair(tmp_path / "certs", "api", ca, ["api.example.org"])
    return inventory(
        tmp_path,
        "      - {cert: certs/shop.crt, key: certs/shop.key}\n"
        "      - {cert: certs/api.crt, key: certs/api.key}",
    )


def desired_of(path: Path) -> Desired:
    return derive(load_inventory(path, {}), path.parent)


def test_certificates_render_as_one_pem_each_root_only_and_secret(two_names: Path) -> None:
    desired = desired_of(two_names)
    files = render_node(desired.pair, desired.nodes[0])
    cfg = files["/etc/haproxy/haproxy.cfg"].content
    assert (
        "bind 172.29.150.150:443 ssl crt /etc/haproxy/certs/shop-0.pem"
        " crt /etc/haproxy/certs/shop-1.pem alpn h2,http/1.1" in cfg
    )
    assert "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets" in cfg
    assert 'http-response set-header Strict-Transport-Security "max-age=31536000"' in cfg
    assert "http-request set-header X-Forwarded-Proto https" in cfg
    assert "frontend shop_redirect\n    bind 172.29.150.150:80\n" in cfg
    assert "http-request redirect scheme https code 301" in cfg
    pem = files["/etc/haproxy/certs/shop-0.pem"]
    assert pem.mode == 0o600 and pem.owner == "root" and pem.secret
    assert pem.content.index("BEGIN CERTIFICATE") < pem.content.index("BEGIN PRIVATE KEY")
    assert "shop.example.org, www.shop.example.org" in pem.about
    assert "PRIVATE" not in pem.shown() and "shop.example.org" in pem.shown()


def test_validate_lists_each_certificate_and_warns_before_expiry(tmp_path: Path, ca) -> None:  # type: ignore[no-untyped-def]
    write_pair(tmp_path / "certs", "soon", ca, ["soon.example.org"], days=5)
    path = inventory(tmp_path, "      cert: certs/soon.crt\n      key: certs/soon.key")
    result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "soon.example.org" in result.output and "lbdeploy test CA" in result.output
    assert "warning: " in result.output and "expires in 4 days" in result.output
    assert "PRIVATE KEY" not in result.output


def test_an_ed25519_certificate_is_served_with_a_warning_about_browsers(tmp_path: Path) -> None:
    fixtures = DATA / "certs"
    path = inventory(
        tmp_path,
        f"      - {{cert: {fixtures}/shop.crt, key: {fixtures}/shop.key}}\n"
        f"      - {{cert: {fixtures}/ed25519.crt, key: {fixtures}/ed25519.key}}",
    )
    desired = desired_of(path)
    cfg = render_node(desired.pair, desired.nodes[0])["/etc/haproxy/haproxy.cfg"].content
    assert "crt /etc/haproxy/certs/shop-0.pem crt /etc/haproxy/certs/shop-1.pem" in cfg
    result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "500"})
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert "ed25519.crt (ed.example.org) has an Ed25519 or Ed448 key" in warning
    assert "browsers (Chrome, Firefox, Safari) do not accept" in warning


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("mismatch", "key", "is not the key of the certificate"),
        ("expired", "cert", "the certificate expired on"),
        ("not_pem", "cert", "not a PEM certificate (no BEGIN CERTIFICATE line)"),
        ("missing", "cert", "no such file"),
        ("order", "cert", "did not sign certificate 1"),
        ("encrypted", "key", "the key is encrypted"),
    ],
)
def test_bad_certificates_are_refused_at_their_line(
    tmp_path: Path, ca, case: str, field: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    certs = tmp_path / "certs"
    cert_path, key_path, cert, _ = write_pair(certs, "good", ca, ["good.example.org"])
    other = write_pair(certs, "other", ca, ["other.example.org"])[1]
    if case == "mismatch":
        key_path = other
    elif case == "expired":
        old, old_key = issue(ca, ["old.example.org"], days=-1, start_days=-30)
        cert_path.write_text(cert_pem(old, ca[0]))
        key_path.write_text(key_pem(old_key))
    elif case == "not_pem":
        cert_path.write_text("this is not a certificate\n")
    elif case == "missing":
        cert_path = certs / "absent.crt"
    elif case == "order":
        cert_path.write_text(cert_pem(ca[0], cert))
    elif case == "encrypted":
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            )
        )
    path = inventory(tmp_path, f"      cert: {cert_path}\n      key: {key_path}")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, {})
    [problem] = caught.value.problems
    line = 21 if field == "cert" else 22  # the tls block's own lines
    assert (problem.line, problem.field) == (line, f"services[0].tls.{field}"), str(problem)
    assert message in problem.message
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and f"{path}:{line}:" in result.output


def test_a_certificate_alone_is_rotated_through_the_runtime_api(two_names: Path) -> None:
    desired = desired_of(two_names)
    pair, node = desired.pair, desired.nodes[0]
    files = render_node(pair, node)
    raw = (DATA / "facts" / "converged-hera.txt").read_text()
    # Every file is as lbdeploy renders it, but shop-1.pem has older content.
    lines = "".join(f"{f.sha256} {f.mode:o} root {f.group} {p}\n" for p, f in files.items())
    lines = lines.replace(files["/etc/haproxy/certs/shop-1.pem"].sha256, "0" * 64)
    raw = (
        raw[: raw.index("@@lbdeploy files\n")]
        + "@@lbdeploy files\n"
        + lines
        + raw[raw.index("@@lbdeploy applied") :]
    )
    plan = make_plan(pair, node, files, parse_facts(raw))
    assert [(a.service, a.action, a.paths) for a in plan.services] == [
        ("haproxy", "ssl-cert", ("/etc/haproxy/certs/shop-1.pem",))
    ]
    script = services_script(pair, plan.services).text()
    assert "set ssl cert %s <<" in script and "commit ssl cert" in script
    check = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_the_default_cipher_lists_pass_the_inventory_own_rules() -> None:
    """Defaults are not validated by pydantic: the same rules must hold for them."""
    inv = load_inventory(DATA / "render" / "lab" / "inventory.yaml", {})
    tls = inv.haproxy.tls
    again = TlsSettings(ciphers=tls.ciphers, ciphersuites=tls.ciphersuites)
    assert (again.ciphers, again.ciphersuites) == (INTERMEDIATE_CIPHERS, INTERMEDIATE_SUITES)
