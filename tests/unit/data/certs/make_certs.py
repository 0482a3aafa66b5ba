"""How the certificates in this folder were made (run once; they are valid for a century).

Test fixtures only: the keys are public. Most are made with `cryptography`; SHA-1
signatures, which `cryptography` no longer makes, with the `openssl` command.
Usage: python tests/unit/data/certs/make_certs.py (from the repository's root).
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent
NOW = datetime.now(UTC).replace(microsecond=0)
CENTURY = timedelta(days=36500)
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
Pair = tuple[x509.Certificate, Key]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make(
    subject: str,
    key: Key,
    issuer: Pair | None = None,
    names: tuple[str, ...] = (),
    start: datetime = NOW - timedelta(days=1),
    end: datetime = NOW + CENTURY,
) -> Pair:
    """A certificate for `key`, signed by `issuer` (self-signed, a CA, without one)."""
    sign_cert, sign_key = issuer or (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(sign_cert.subject if sign_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    algorithm = None if isinstance(sign_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(sign_key, algorithm), key


def sign_sha1(subject: str, key: Key, issuer: Pair, names: tuple[str, ...] = ()) -> Pair:
    """Like make(), but signed with SHA-1, by the openssl command."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(_name(subject))
            .sign(key, hashes.SHA256())
        )
        (work / "req.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        (work / "ca.crt").write_text(_pem(issuer[0]))
        (work / "ca.key").write_bytes(_key_pem(issuer[1]))
        ext = (
            f"subjectAltName={','.join('DNS:' + n for n in names)}"
            if names
            else ("basicConstraints=critical,CA:true")
        )
        (work / "ext").write_text(ext + "\n")
        subprocess.run(
            [
                *("openssl", "x509", "-req", "-in", "req.csr", "-CA", "ca.crt"),
                *("-CAkey", "ca.key", "-set_serial", "7", "-days", "36500", "-sha1"),
                *("-extfile", "ext", "-out", "out.crt"),
            ],
            cwd=work,
            check=True,
            capture_output=True,
        )
        return x509.load_pem_x509_certificate((work / "out.crt").read_bytes()), key


def write(stem: str, leaf: Pair, *chain: x509.Certificate) -> None:
    """stem.crt holds the leaf and its chain, in order; stem.key the leaf's key."""
    (HERE / f"{stem}.crt").write_text("".join(_pem(c) for c in (leaf[0], *chain)))
    (HERE / f"{stem}.key").write_bytes(_key_pem(leaf[1]))


def main() -> None:
    ca = make("lbdeploy fixtures CA", _ec())
    shop = ("shop.example.org", "www.shop.example.org")
    write("shop", make(shop[0], _ec(), ca, shop), ca[0])
    write("shop-rsa", make(shop[0], rsa.generate_private_key(65537, 2048), ca, shop), ca[0])
    write("shop-again", make(shop[0], _ec(), ca, ("shop.example.org",)), ca[0])
    wild = ("*.example.org",)
    write("wild", make(wild[0], _ec(), ca, wild), ca[0])
    write("wild-again", make("example.org", _ec(), ca, ("example.org", *wild)), ca[0])
    write(
        "ed25519",
        make("ed.example.org", ed25519.Ed25519PrivateKey.generate(), ca, ("ed.example.org",)),
        ca[0],
    )
    # What the node's OpenSSL (3.0, security level 2) refuses to load.
    write("rsa1024", make(shop[0], rsa.generate_private_key(65537, 1024), ca, shop), ca[0])
    write("ec-p192", make(shop[0], ec.generate_private_key(ec.SECP192R1()), ca, shop), ca[0])
    write("sha1", sign_sha1(shop[0], _ec(), ca, shop), ca[0])
    weak_int = sign_sha1("lbdeploy fixtures SHA-1 intermediate", _ec(), ca)
    write("int-sha1", make(shop[0], _ec(), weak_int, shop), weak_int[0], ca[0])
    small_int = make(
        "lbdeploy fixtures RSA-1024 intermediate", rsa.generate_private_key(65537, 1024), ca
    )
    write("int-rsa1024", make(shop[0], _ec(), small_int, shop), small_int[0], ca[0])
    # Dates: an intermediate that expired, one not valid yet.
    old = make(
        "lbdeploy fixtures expired intermediate",
        _ec(),
        ca,
        end=datetime(2024, 6, 30, tzinfo=UTC),
        start=datetime(2020, 1, 1, tzinfo=UTC),
    )
    write("int-expired", make(shop[0], _ec(), old, shop), old[0], ca[0])
    late = make(
        "lbdeploy fixtures future intermediate", _ec(), ca, start=NOW + CENTURY - timedelta(days=10)
    )
    write("int-future", make(shop[0], _ec(), late, shop), late[0], ca[0])
    # Accepted: a root whose own signature is SHA-1 (OpenSSL does not check a self-signature).
    root_sha1 = _self_signed_sha1()
    write("root-sha1", make(shop[0], _ec(), root_sha1, shop), root_sha1[0])


def _self_signed_sha1() -> Pair:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "ec"),
                *("-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key"),
                *("-out", "ca.crt", "-days", "36500", "-sha1"),
                *("-subj", "/CN=lbdeploy fixtures SHA-1 root"),
            ],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        key = serialization.load_pem_private_key((Path(tmp) / "ca.key").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate((Path(tmp) / "ca.crt").read_bytes()), key


if __name__ == "__main__":
    main()
