"""HTTPS on the VIP in the lab: a throwaway CA, two SNI names, redirect and HSTS, keys that
stay root's, a certificate rotated under load without a reload, and never a key printed."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import lab as labmod
from tests.integration.helpers import VIP, Load, lab_inventory_text, lbdeploy, sh, sha, up_json
from tests.tlsutil import make_ca, write_pair

SERVICE = """\
  - name: web
    port: 443
    health_check: /
    tls:
      - {cert: certs/shop.crt, key: certs/shop.key}
      - {cert: certs/api.crt, key: certs/api.key}
    redirect_http: true
    hsts: 31536000
    servers:
      - {name: web1, address: 172.29.150.21, port: 8080}
      - {name: web2, address: 172.29.150.22, port: 8080}
"""


@dataclass
class Site:
    inventory: Path
    ca_pem: str
    certs: Path
    ca: tuple  # type: ignore[type-arg]
    keys: list[str]  # every key written, to prove none is ever printed

    def renew(self, stem: str, names: list[str], days: float = 90) -> str:
        """A new certificate (and key) for the same names; returns its sha256."""
        _, _, cert, key = write_pair(self.certs, stem, self.ca, names, days)
        self.keys.append(key)
        from cryptography.hazmat.primitives import serialization

        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def key_lines(keys: list[str]) -> list[str]:
    return [line for key in keys for line in key.splitlines()[1:-1] if len(line) > 20]


def assert_no_key(site: Site, *outputs: str) -> None:
    for output in outputs:
        for line in key_lines(site.keys):
            assert line not in output, "a private key line was printed"


@pytest.fixture(scope="module")
def site(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("tls")
    ca = make_ca()
    certs = tmp / "certs"
    keys = [write_pair(certs, "shop", ca, ["shop.example.org"])[3]]
    keys.append(write_pair(certs, "api", ca, ["api.example.org"])[3])
    text = lab_inventory_text(lab)
    inventory = tmp / "inventory.yaml"
    inventory.write_text(text[: text.index("services:")] + "services:\n" + SERVICE)
    from cryptography.hazmat.primitives import serialization

    site = Site(inventory, ca[0].public_bytes(serialization.Encoding.PEM).decode(), certs, ca, keys)
    code, report = up_json(inventory)
    assert code == 0, report
    assert_no_key(site, json.dumps(report))
    yield site


def https(site: Site, name: str, path: str = "/") -> tuple[str, dict[str, str], str, str]:
    """GET https://name/ through the VIP, verified against the test CA: status line,
    headers, body, and the served certificate's sha256."""
    context = ssl.create_default_context(cadata=site.ca_pem)
    with (
        socket.create_connection((VIP, 443), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=name) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        der = tls.getpeercert(binary_form=True) or b""
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    status, *lines = head.split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body.strip(), hashlib.sha256(der).hexdigest()


def served_fingerprint(site: Site, name: str) -> str:
    return https(site, name)[3]


def test_https_reaches_both_backends_with_each_name_its_certificate(site: Site) -> None:
    seen = Counter(https(site, "shop.example.org")[2] for _ in range(10))
    assert set(seen) == {"web1", "web2"}, seen
    status, headers, _, shop = https(site, "shop.example.org")
    assert status.startswith("HTTP/1.1 200")
    assert headers["strict-transport-security"] == "max-age=31536000"
    api = served_fingerprint(site, "api.example.org")
    assert shop != api  # SNI picks the certificate


def test_plain_http_is_redirected_to_https(site: Site) -> None:
    with socket.create_connection((VIP, 80), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: shop.example.org\r\nConnection: close\r\n\r\n")
        answer = sock.recv(4096).decode()
    assert answer.split("\r\n")[0] in (
        "HTTP/1.1 301 Moved Permanently",
        "HTTP/1.1 308 Permanent Redirect",
    )
    assert "location: https://shop.example.org/x" in answer.lower()


def test_keys_on_the_nodes_are_root_only(site: Site) -> None:
    for node in ("hera", "afrodita"):
        assert sh(node, "stat -c '%a %U %G' /etc/haproxy/certs").strip() == "700 root root"
        modes = sh(node, "stat -c '%a %U %G' /etc/haproxy/certs/*.pem").split("\n")
        assert [m for m in modes if m] == ["600 root root", "600 root root"]


def test_status_and_verify_show_and_check_the_served_certificates(site: Site) -> None:
    result = lbdeploy("status", str(site.inventory), "--json")
    assert result.returncode == 0, result.stderr
    for node in json.loads(result.stdout):
        assert set(node["certs"]) == {
            "/etc/haproxy/certs/web-0.pem",
            "/etc/haproxy/certs/web-1.pem",
        }
    text = lbdeploy("status", str(site.inventory)).stdout
    assert "web-0.pem 89 d" in text or "web-0.pem 88 d" in text
    verify = lbdeploy("verify", str(site.inventory), "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert_no_key(site, result.stdout, text, verify.stdout, verify.stderr)


def test_a_renewed_certificate_is_served_under_load_without_a_reload(site: Site) -> None:
    load = Load(lambda: https(site, "shop.example.org")[0].startswith("HTTP/1.1 200"), 120)
    pids = {
        n: sh(n, "echo 'show info' | socat stdio /run/lbdeploy-haproxy/admin.sock | grep '^Pid:'")
        for n in ("hera", "afrodita")
    }
    new = site.renew("shop", ["shop.example.org"])
    with load:
        time.sleep(1)
        start = time.monotonic()
        result = lbdeploy("up", str(site.inventory), "--json")
        report = json.loads(result.stdout)
        assert result.returncode == 0, report
        while served_fingerprint(site, "shop.example.org") != new:
            assert time.monotonic() - start < 30, "the new certificate was never served"
            time.sleep(0.05)
        took = time.monotonic() - start
        time.sleep(1)
    counts = load.counts
    sent = sum(counts.values())
    print(
        f"\nrotation under load: {sent} HTTPS requests, {counts['failed']} failed,"
        f" new certificate served {took:.2f} s after `up` started"
    )
    for node in ("hera", "afrodita"):
        steps = {s["step"]: s["detail"] for s in report["nodes"][node]["steps"]}
        assert "runtime API (no reload)" in steps["services"], steps
        after = sh(
            node, "echo 'show info' | socat stdio /run/lbdeploy-haproxy/admin.sock | grep '^Pid:'"
        )
        assert after == pids[node]  # the same worker: no reload
        loaded = sh(
            node,
            "echo 'show ssl cert /etc/haproxy/certs/web-0.pem' | socat stdio"
            " /run/lbdeploy-haproxy/admin.sock | grep 'SHA1 FingerPrint'",
        )
        assert loaded.strip()
    assert sent > 100 and counts["failed"] == 0, counts
    assert_no_key(site, result.stdout, result.stderr)


def test_verify_fails_when_a_certificate_expires_soon(site: Site) -> None:
    site.renew("api", ["api.example.org"], days=5)
    result = lbdeploy("up", str(site.inventory))
    assert result.returncode == 0 and "expires in 4 days" in result.stdout
    verify = lbdeploy("verify", str(site.inventory))
    assert verify.returncode == 1 and "expires in 4 days" in verify.stdout
    site.renew("api", ["api.example.org"])
    assert lbdeploy("up", str(site.inventory)).returncode == 0
    assert lbdeploy("verify", str(site.inventory)).returncode == 0
    assert_no_key(site, result.stdout, verify.stdout)


def test_a_key_that_does_not_match_is_refused_before_any_change(site: Site) -> None:
    live = sha("hera", "/etc/haproxy/certs/web-0.pem")
    other = site.certs / "api.key"
    broken = site.inventory.with_name("broken.yaml")
    broken.write_text(site.inventory.read_text().replace("certs/shop.key", str(other)))
    result = lbdeploy("up", str(broken))
    assert result.returncode == 2
    assert f"{broken}:22:" in result.stderr and "is not the key of the certificate" in result.stderr
    assert sha("hera", "/etc/haproxy/certs/web-0.pem") == live
    assert_no_key(site, result.stdout, result.stderr)
