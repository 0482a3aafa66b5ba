"""What the nodes' OpenSSL refuses to load: weak keys and signatures, cipher lists.

Debian 12's OpenSSL 3.0 runs at security level 2 (the default, and `CipherString =
DEFAULT:@SECLEVEL=2` in /etc/ssl/openssl.cnf): 112 bits of security, so RSA and DSA keys
under 2048 bits, EC keys under 224 bits and MD5 or SHA-1 signatures are refused
(SSL_CTX_set_security_level(3)). HAProxy then fails to start: `haproxy -c` (2.6.12)
says "unable to load SSL certificate" for such a leaf and "unable to load chain
certificate" for such an intermediate. As OpenSSL does (ssl_security_cert_sig), the
signature of a self-signed root is not judged: clients take roots from their own store.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID

MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
_WEAK_HASHES = (hashes.MD5, hashes.SHA1)


def describe(index: int, cert: x509.Certificate) -> str:
    """'the certificate' for the leaf, 'certificate 2 (CN)' for the chain after it."""
    if index == 0:
        return "the certificate"
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(common[0].value) if common else cert.subject.rfc4514_string()
    return f"certificate {index + 1} ({name})"


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issued by itself, as OpenSSL's EXFLAG_SS judges it: by the names, not the signature."""
    return cert.subject == cert.issuer


def _weak_key(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey) and key.key_size < MIN_RSA_BITS:
        kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        return f"has a {key.key_size}-bit {kind} key (under {MIN_RSA_BITS} bits)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < MIN_EC_BITS:
        return f"has a {key.key_size}-bit EC key ({key.curve.name}, under {MIN_EC_BITS} bits)"
    return None


def _weak_signature(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        oid = cert.signature_algorithm_oid.dotted_string
        return f"is signed with an unknown or obsolete algorithm ({oid})"
    if isinstance(algorithm, _WEAK_HASHES):
        return f"is signed with {algorithm.name.upper().replace('SHA1', 'SHA-1')}"
    return None


def check_strength(path: Path, certs: list[x509.Certificate]) -> None:
    """ValueError naming the first certificate of the file that the node's OpenSSL refuses."""
    for index, cert in enumerate(certs):
        weak, fix = _weak_key(cert), f"RSA keys of {MIN_RSA_BITS} bits or more, or EC keys"
        if weak is None and not is_self_signed(cert):
            weak, fix = _weak_signature(cert), "signatures with SHA-256 or better"
        if weak is not None:
            raise ValueError(
                f"{path}: {describe(index, cert)} {weak}, which the nodes' OpenSSL refuses"
                f" (security level 2), so HAProxy would not start; it takes {fix}"
            )
