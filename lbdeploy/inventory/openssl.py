"""What the nodes' OpenSSL refuses or skips: weak keys and signatures, cipher names.

Debian 12's OpenSSL 3.0 runs at security level 2 (the default, and `CipherString =
DEFAULT:@SECLEVEL=2` in /etc/ssl/openssl.cnf): 112 bits of security, so RSA and DSA keys
under 2048 bits, EC keys under 224 bits and MD5 or SHA-1 signatures are refused
(SSL_CTX_set_security_level(3)). HAProxy then fails to start: `haproxy -c` (2.6.12)
says "unable to load SSL certificate" for such a leaf and "unable to load chain
certificate" for such an intermediate. As OpenSSL does (ssl_security_cert_sig), the
signature of a self-signed root is not judged: clients take roots from their own store.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID
from pydantic import AfterValidator

from lbdeploy.inventory.fields import HaproxyWord

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


# Mozilla's "intermediate" profile (version 5.7): TLS 1.2 and 1.3, forward secrecy only.
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
INTERMEDIATE_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

# The TLS 1.3 suites of OpenSSL 1.1.1 to 3.x (ssl/s3_lib.c, tls13_ciphers). OpenSSL skips
# a name it does not know without a word, and refuses a list of none it knows: haproxy -c
# "unable to set TLS 1.3 cipher suites" (2.6.12 on OpenSSL 3.0).
TLS13_SUITES = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
)


def _suites(value: str) -> str:
    names = value.split(":")
    unknown = [name for name in names if name not in TLS13_SUITES]
    if not unknown:
        return value
    hint = "; TLS 1.2 ciphers go in ciphers" if _selects(unknown[0]) else ""
    outcome = (
        "OpenSSL would refuse the list and HAProxy would not start"
        if len(unknown) == len(names)
        else "OpenSSL would skip it without a word"
    )
    raise ValueError(
        f"{unknown[0]!r} is not a TLS 1.3 cipher suite: {outcome}"
        f" (it knows {', '.join(TLS13_SUITES)}){hint}"
    )


def _selects(spec: str) -> bool:
    """Whether OpenSSL (this machine's, 3.x like the nodes') picks a TLS 1.2 cipher."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(spec)
    except ssl.SSLError:
        return False
    return any(c["protocol"] != "TLSv1.3" for c in context.get_ciphers())


def _ciphers(value: str) -> str:
    """A TLS 1.2 cipher list (ciphers(1)): each name or group it adds must exist, and the
    whole must pick one cipher, or HAProxy does not start ("unable to set SSL cipher
    list", haproxy 2.6 -c). Names that remove ('!', '-') or move ('+') are not judged:
    `!RC4` is right even where OpenSSL has no RC4 left."""
    for word in re.split("[:,]", value):
        if not word or word[0] in "!-+@":
            continue
        if not _selects(word):
            hint = "; TLS 1.3 suites go in ciphersuites" if word in TLS13_SUITES else ""
            raise ValueError(
                f"OpenSSL knows no cipher or group of ciphers {word!r}, and would skip it"
                f" without a word{hint}"
            )
    if not _selects(value):
        raise ValueError(
            "OpenSSL picks no TLS 1.2 cipher from this list, so HAProxy would not start"
        )
    return value


CipherList = Annotated[HaproxyWord, AfterValidator(_ciphers)]
SuiteList = Annotated[HaproxyWord, AfterValidator(_suites)]
