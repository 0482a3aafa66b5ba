"""The ACME conversation of `ops/acme.py` against Debian's pebble on loopback.

Not an integration test of the nodes: the nodes' side is faked at the one seam an order
has for them, the `Publisher` (publish every token on every node and check it there).
pebble runs on 127.0.0.1 only, with PEBBLE_VA_ALWAYS_VALID=1 so it makes no validation
connection; its HTTPS certificate is made here and is the directory's ca_bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lbdeploy.core.acme import AcmeLayout, Challenge
from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.ops.acme import AcmeFailure, Failure, issue
from tests.tlsutil import cert_pem, key_pem

pytestmark = [
    pytest.mark.pebble,
    pytest.mark.skipif(
        shutil.which("pebble") is None and not os.environ.get("CI"),
        reason="needs Debian's pebble (apt-get install pebble; lab/ensure-docker.sh does)",
    ),
]
NAMES = ("www.example.org", "example.org")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listener_cert(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble on loopback")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp / "pebble.crt").write_text(cert_pem(cert))
    (tmp / "pebble.key").write_text(key_pem(key))
    return tmp / "pebble.crt", tmp / "pebble.key"


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """pebble's directory URL, and its certificate (the ca_bundle that trusts it)."""
    assert shutil.which("pebble"), "pebble is not installed (lab/ensure-docker.sh installs it)"
    tmp = tmp_path_factory.mktemp("pebble")
    crt, key = _listener_cert(tmp)
    port, management = _free_port(), _free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(crt),
            "privateKey": str(key),
            "httpPort": _free_port(),
            "tlsPort": _free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (tmp / "pebble.json").write_text(json.dumps(config))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PEBBLE_VA_ALWAYS_VALID": "1",  # no validation connection leaves this machine
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",  # badNonce is the library's to retry; not tested here
    }
    log = (tmp / "pebble.log").open("w")
    proc = subprocess.Popen(
        ["pebble", "-config", str(tmp / "pebble.json")], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp / "pebble.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pebble did not listen within 20 s"
                time.sleep(0.1)
        yield f"https://127.0.0.1:{port}/dir", crt
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@dataclass
class FakeNodes:
    """The nodes' seam: records what an order published and withdrew."""

    silent: list[str] = field(default_factory=list)
    published: list[Challenge] = field(default_factory=list)
    withdrawn: list[Challenge] = field(default_factory=list)

    def publish(self, challenges: tuple[Challenge, ...]) -> list[str]:
        self.published += challenges
        return list(self.silent)

    def withdraw(self, challenges: tuple[Challenge, ...]) -> None:
        self.withdrawn += challenges


def _settings(directory: str, bundle: Path | None, state: Path) -> AcmeSettings:
    return AcmeSettings(
        email="ops@example.org",
        directory=directory,
        ca_bundle=str(bundle) if bundle else None,
        state_dir=str(state),
    )


def test_order_gives_a_certificate_with_private_keys_and_tokens_withdrawn(
    pebble: tuple[str, Path], tmp_path: Path
) -> None:
    directory, bundle = pebble
    layout = AcmeLayout(tmp_path / "state" / "pebble")
    nodes = FakeNodes()
    issued = issue(_settings(directory, bundle, tmp_path), layout, NAMES, nodes, 60)

    chain = x509.load_pem_x509_certificates(issued.chain.read_bytes())
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    assert {c.name for c in nodes.published} == set(NAMES)
    assert all(c.key_authorization.startswith(c.token + ".") for c in nodes.published)
    assert nodes.withdrawn == nodes.published
    for path in (issued.key, issued.chain, layout.account_key, layout.renewed(NAMES)):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert layout.root.stat().st_mode & 0o777 == 0o700

    # The account is kept: a second order uses the same key and finds the same account.
    account_key, account_url = layout.account_key.read_bytes(), layout.account_url.read_text()
    again = issue(_settings(directory, bundle, tmp_path), layout, NAMES, FakeNodes(), 60)
    assert layout.account_key.read_bytes() == account_key
    assert layout.account_url.read_text() == account_url
    renewed = x509.load_pem_x509_certificates(again.chain.read_bytes())[0]
    assert renewed.serial_number != chain[0].serial_number  # a new certificate, a new key
    assert renewed.public_key() != chain[0].public_key()


def test_a_node_that_does_not_answer_stops_the_order_before_the_ca_is_told(
    pebble: tuple[str, Path], tmp_path: Path
) -> None:
    directory, bundle = pebble
    layout = AcmeLayout(tmp_path / "state" / "pebble")
    nodes = FakeNodes(silent=["afrodita: token abc… not in HAProxy's map"])
    with pytest.raises(AcmeFailure) as failed:
        issue(_settings(directory, bundle, tmp_path), layout, NAMES, nodes, 60)
    assert failed.value.kind is Failure.NODES
    assert "afrodita" in str(failed.value) and "not submitted" in str(failed.value)
    assert nodes.withdrawn == nodes.published
    assert not layout.chain(NAMES).exists()
    assert "PRIVATE KEY" not in str(failed.value)


def test_an_untrusted_directory_certificate_says_ca_bundle(
    pebble: tuple[str, Path], tmp_path: Path
) -> None:
    directory, _ = pebble
    with pytest.raises(AcmeFailure) as failed:
        issue(_settings(directory, None, tmp_path), AcmeLayout(tmp_path), NAMES, FakeNodes(), 60)
    assert failed.value.kind is Failure.UNREACHABLE
    assert "ca_bundle" in str(failed.value)


def test_a_directory_nobody_listens_on_is_unreachable(tmp_path: Path) -> None:
    directory = f"https://127.0.0.1:{_free_port()}/dir"
    with pytest.raises(AcmeFailure) as failed:
        issue(_settings(directory, None, tmp_path), AcmeLayout(tmp_path), NAMES, FakeNodes(), 60)
    assert failed.value.kind is Failure.UNREACHABLE
    assert directory in str(failed.value)
