"""Certificates and keys named by the inventory, read and checked before any SSH.

A `cert:` field becomes a `CertChain` (the PEM chain, leaf first, parsed), a `key:`
field a `KeyFile` (its PEM as a Secret), each by a validator that reads the file
relative to the inventory's folder; a wrong one is an error at that field's line:
not PEM, not in chain order, a certificate of the chain expired, a key or signature
that the nodes' OpenSSL refuses, a key that does not match its certificate.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

from lbdeploy.inventory.fields import _local_path
from lbdeploy.inventory.openssl import check_strength, describe, is_self_signed
from lbdeploy.scripts.shell import Secret

EdwardsKey = ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
WARN_DAYS = 14  # a certificate that expires sooner is reported at every run
MAX_PEM_BYTES = 256 * 1024


def _read(value: Any, info: ValidationInfo, what: str) -> tuple[Path, bytes]:
    if not isinstance(value, str):
        raise ValueError(f"a {what} is the path of a PEM file")
    _local_path(value)
    base = Path((info.context or {}).get("base", "."))
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PEM_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_PEM_BYTES:
        raise ValueError(f"{path}: larger than {MAX_PEM_BYTES // 1024} KiB; not a PEM file")
    return path, data


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    common = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(dict.fromkeys([*names, *common]))


@dataclass(frozen=True)
class CertChain:
    """A certificate file: the leaf first, then the chain that signs it."""

    path: Path
    pem: str
    certs: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]

    @property
    def names(self) -> tuple[str, ...]:
        return _names(self.leaf)

    @property
    def fingerprint(self) -> str:
        """sha256 of the leaf (DER), as `openssl x509 -fingerprint -sha256` shows it."""
        return hashlib.sha256(self.leaf.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def issuer(self) -> str:
        return self.leaf.issuer.rfc4514_string()

    @property
    def not_after(self) -> datetime:
        return self.leaf.not_valid_after_utc

    def days_left(self, now: datetime | None = None) -> int:
        return (self.not_after - (now or datetime.now(UTC))).days

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class KeyFile:
    """A private key file; its PEM is a Secret and never printed."""

    path: Path
    pem: Secret
    public: bytes  # the public key (DER), to match against a certificate

    def __str__(self) -> str:
        return str(self.path)


def _public_der(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _check_order(path: Path, certs: list[x509.Certificate]) -> None:
    for index, (child, parent) in enumerate(itertools.pairwise(certs)):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise ValueError(
                f"{path}: certificate {index + 2} did not sign certificate {index + 1}; the"
                " file must hold the server's certificate first, then its chain in order"
            ) from None


def _check_dates(path: Path, certs: list[x509.Certificate]) -> None:
    """Every certificate a client checks must be valid now: the leaf and each intermediate.

    A root at the end of the file is left alone: clients take roots from their own store
    (RFC 8446 4.4.2 lets a server leave it out), so its dates change nothing.
    """
    now = datetime.now(UTC)
    for index, cert in enumerate(certs):
        if index > 0 and is_self_signed(cert):
            continue
        which = describe(index, cert)
        if cert.not_valid_after_utc <= now:
            expired = cert.not_valid_after_utc.strftime("%Y-%m-%d")
            fix = "" if index == 0 else "; clients refuse the chain: get the CA's current one"
            raise ValueError(f"{path}: {which} expired on {expired}{fix}")
        if cert.not_valid_before_utc > now:
            start = cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M UTC")
            raise ValueError(f"{path}: {which} is not valid before {start}")


def load_chain(value: Any, info: ValidationInfo) -> CertChain:
    if isinstance(value, CertChain):
        return value
    path, data = _read(value, info, "certificate")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError(f"{path}: not a PEM certificate (no BEGIN CERTIFICATE line)")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a readable PEM certificate: {exc}") from None
    check_strength(path, certs)
    _check_order(path, certs)
    _check_dates(path, certs)
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
    return CertChain(path, pem, tuple(certs))


def load_key(value: Any, info: ValidationInfo) -> KeyFile:
    if isinstance(value, KeyFile):
        return value
    path, data = _read(value, info, "key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(f"{path}: the key is encrypted; HAProxy needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{path}: not a PEM private key") from None
    # HAProxy 2.6 on OpenSSL 3.0 serves an Ed25519 certificate (a handshake shows it) and
    # loads an Ed448 one (haproxy -c); browsers not taking them is a warning, not an error.
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | EdwardsKey):
        raise ValueError(f"{path}: an RSA, EC or Ed25519 private key is needed")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return KeyFile(path, Secret(pem), _public_der(key.public_key()))


def key_matches(chain: CertChain, key: KeyFile) -> bool:
    return _public_der(chain.leaf.public_key()) == key.public


Certificate = Annotated[
    CertChain,
    PlainValidator(load_chain),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "description": "PEM file: certificate, then its chain"}),
]
PrivateKey = Annotated[
    KeyFile,
    PlainValidator(load_key),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "description": "PEM file: the certificate's private key"}),
]
