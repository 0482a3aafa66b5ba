"""ACME in the lab (issue 24): the lab's CA (Debian's pebble on the infra node) issues
certificates to the pair over a real HTTP-01 validation of the VIP.

pebble's DNS (pebble-challtestsrv) answers every name with the VRRP VIP, so the CA's
request for the token reaches whichever node holds it; a test points the names elsewhere
through its management API. The account and certificate keys live in the test's own
state directory, and no line of them may appear in any output.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab import lab as labmod
from tests.integration.helpers import (
    VIP,
    Load,
    lab_inventory_text,
    lbdeploy,
    run_json,
    sh,
    up_json,
    wait_for_holders,
)

NAMES = ("www.lab.test", "lab.test")
PAIR = ("hera", "afrodita")
ADMIN = "/run/lbdeploy-haproxy/admin.sock"
CERT = "/etc/haproxy/certs/web-0.pem"


def service(state: Path, bundle: Path) -> str:
    return f"""\
acme:
  email: ops@lab.test
  directory: {labmod.ACME_DIRECTORY}
  ca_bundle: {bundle}
  state_dir: {state}
services:
  - name: web
    port: 443
    health_check: /
    tls: {{acme: [{", ".join(NAMES)}]}}
    redirect_http: true
    servers:
      - {{name: web1, address: 172.29.150.21, port: 8080}}
      - {{name: web2, address: 172.29.150.22, port: 8080}}
"""


@dataclass
class Site:
    inventory: Path
    state: Path
    outputs: list[str] = field(default_factory=list)  # every output, checked for keys

    def key_lines(self) -> list[str]:
        """Every line of every private key in the state directory."""
        lines = []
        for path in [*self.state.rglob("*.key"), *self.state.rglob("privkey.pem")]:
            lines += [x for x in path.read_text().splitlines()[1:-1] if len(x) > 20]
        return lines

    def leaf(self) -> x509.Certificate:
        """The certificate issued last (the state directory's fullchain)."""
        chains = sorted(self.state.rglob("fullchain.pem"), key=lambda p: p.stat().st_mtime)
        assert chains, f"nothing issued in {self.state}"
        return x509.load_pem_x509_certificates(chains[-1].read_bytes())[0]


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def served(name: str) -> str:
    """The sha256 of the certificate the VIP serves for `name` (SNI); not verified here."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((VIP, 443), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=name) as tls,
    ):
        return hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()


def loaded(node: str) -> str:
    """The SHA1 fingerprint of the certificate HAProxy on `node` holds (runtime API)."""
    out = sh(node, f"echo 'show ssl cert {CERT}' | socat stdio {ADMIN}")
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if "FingerPrint" in line)


def sha1(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def worker(node: str) -> str:
    return sh(node, f"echo 'show info' | socat stdio {ADMIN} | grep '^Pid:'")


def point_names_at(address: str) -> None:
    """The lab DNS's answer for every name (pebble-challtestsrv's management API)."""
    body = json.dumps({"ip": address}).encode()
    request = urllib.request.Request(f"{labmod.ACME_DNS_MANAGEMENT}/set-default-ipv4", body)
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def run(site: Site, *args: str) -> tuple[int, str]:
    result = lbdeploy(*args, str(site.inventory))
    output = result.stdout + result.stderr
    site.outputs.append(output)
    return result.returncode, output


@pytest.fixture(scope="module")
def site(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A pair with no certificate at all: one `up` gets one from the lab CA."""
    labmod.reset_nodes(lab)
    tmp = tmp_path_factory.mktemp("acme")
    text = lab_inventory_text(lab)
    inventory = tmp / "inventory.yaml"
    state = tmp / "acme-state"
    head = text[: text.index("services:")]
    inventory.write_text(head + service(state, lab.acme_ca_bundle))
    site = Site(inventory, state)
    code, report = up_json(inventory)
    site.outputs.append(json.dumps(report))
    assert code == 0, json.dumps(report, indent=1)[-4000:]
    yield site
    point_names_at(VIP)
    labmod.node_exec(labmod.INFRA, "systemctl start lab-pebble")
    for line in site.key_lines():
        for output in site.outputs:
            assert line not in output, "a private key line was printed"


def test_one_up_gets_a_certificate_for_both_names_served_by_both_nodes(site: Site) -> None:
    leaf = site.leaf()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    assert "Pebble" in leaf.issuer.rfc4514_string()
    for name in NAMES:
        assert served(name) == fingerprint(leaf)
    for node in PAIR:
        assert loaded(node) == sha1(leaf)
    for node in PAIR:  # the state directory's keys are the operator's alone
        assert sh(node, f"stat -c '%a %U' {CERT}").strip() == "600 root"
    for folder in [site.state, *(p for p in site.state.rglob("*") if p.is_dir())]:
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    for key in [*site.state.rglob("*.key"), *site.state.rglob("privkey.pem")]:
        assert key.stat().st_mode & 0o777 == 0o600, key


def test_failover_test_then_verify_pass_with_it(site: Site) -> None:
    code, output = run(site, "failover-test")
    assert code == 0, output
    code, output = run(site, "verify")
    assert code == 0, output
    assert "ACME" in output


def test_the_validation_reaches_the_backup_once_it_holds_the_vip(site: Site) -> None:
    before = site.leaf()
    code, output = run(site, "switchover", "--to", "afrodita")
    assert code == 0, output
    try:
        wait_for_holders(["afrodita"], 15)
        code, output = run(site, "renew", "--force")
        assert code == 0, output
        after = site.leaf()
        assert fingerprint(after) != fingerprint(before)
        # Only afrodita holds the VIP: the CA's request for the token reached afrodita.
        assert served(NAMES[0]) == fingerprint(after)
        for node in PAIR:
            assert loaded(node) == sha1(after)
    finally:
        code, output = run(site, "switchover", "--back")
        assert code == 0, output
    wait_for_holders(["hera"], 15)


def test_a_forced_renewal_under_https_load_drops_nothing_and_keeps_the_worker(
    site: Site,
) -> None:
    load = Load(lambda: bool(served(NAMES[1])), 120)
    workers = {node: worker(node) for node in PAIR}
    with load:
        time.sleep(1)
        code, output = run(site, "renew", "--force")
        time.sleep(1)
    counts = load.counts
    assert code == 0, output
    leaf = site.leaf()
    for node in PAIR:
        assert loaded(node) == sha1(leaf)
        assert worker(node) == workers[node]  # the runtime API, no reload
    print(
        f"\nACME renewal under load: {sum(counts.values())} handshakes, {counts['failed']} failed"
    )
    assert sum(counts.values()) > 100 and counts["failed"] == 0, counts


def _unchanged(site: Site, leaf: x509.Certificate) -> None:
    """The held certificate still serves on both nodes, and nothing new was issued."""
    assert fingerprint(site.leaf()) == fingerprint(leaf)
    assert served(NAMES[0]) == fingerprint(leaf)
    for node in PAIR:
        assert loaded(node) == sha1(leaf)


def test_the_ca_down_is_a_clear_error_and_the_old_certificate_serves(site: Site) -> None:
    leaf = site.leaf()
    labmod.node_exec(labmod.INFRA, "systemctl stop lab-pebble")
    try:
        code, output = run(site, "renew", "--force")
    finally:
        labmod.node_exec(labmod.INFRA, "systemctl start lab-pebble")
    assert code != 0 and "CA unreachable" in output, output
    _unchanged(site, leaf)


def test_a_name_not_pointing_at_the_vip_is_a_clear_error(site: Site) -> None:
    leaf = site.leaf()
    point_names_at("172.29.150.99")  # nothing there
    try:
        code, output = run(site, "renew", "--force")
    finally:
        point_names_at(VIP)
    assert code != 0 and "validation failed" in output, output
    _unchanged(site, leaf)


def test_an_unreachable_node_orders_nothing(site: Site) -> None:
    leaf = site.leaf()
    sh("afrodita", "systemctl stop ssh.socket ssh.service 2>/dev/null; true")
    try:
        code, output = run(site, "renew", "--force")
    finally:
        sh("afrodita", "systemctl start ssh.service")
    assert code != 0 and "afrodita" in output, output
    _unchanged(site, leaf)
    code, output = run_json_text(site)
    assert code == 0, output


def run_json_text(site: Site) -> tuple[int, str]:
    code, verdict = run_json("verify", str(site.inventory))
    text = json.dumps(verdict)
    site.outputs.append(text)
    return code, text
