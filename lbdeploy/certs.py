"""HTTPS as `status` and `verify` see it: what each node's HAProxy loaded, what the VIP serves.

`status` asks each node's HAProxy (`show ssl cert`, in the facts round trip) which
certificate it holds for each file; `verify` shakes hands with every TLS VIP:port from
here, with SNI for each of a certificate's names, and compares what is served with the
inventory's certificate, by fingerprint.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lbdeploy.addresses import IPAddress
from lbdeploy.desired import PairState, ServiceState, TlsBundle
from lbdeploy.inventory.tls import WARN_DAYS
from lbdeploy.paths import HAPROXY_SOCKET
from lbdeploy.script import Script
from lbdeploy.shell import cmd

SECTION = "cert "


@dataclass(frozen=True)
class LoadedCert:
    """A certificate as one node's HAProxy holds it in memory."""

    sha1: str  # upper-case hex, as HAProxy prints it
    not_after: str  # e.g. "Nov 25 17:00:00 2027 GMT"

    def days_left(self, now: datetime | None = None) -> int | None:
        try:
            when = datetime.strptime(self.not_after, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
        except ValueError:
            return None
        return (when - (now or datetime.now(UTC))).days


def cert_lines(pair: PairState) -> Script:
    """One section per certificate file: HAProxy's own view of it."""
    script = Script()
    for bundle in pair.bundles:
        script.section(SECTION + bundle.path).probe(
            cmd(
                "echo {query} | socat -t 2 stdio unix-connect:{socket} 2>/dev/null",
                query=f"show ssl cert {bundle.path}",
                socket=HAPROXY_SOCKET,
            )
        )
    return script


def parse_loaded(sections: dict[str, list[str]]) -> dict[str, LoadedCert]:
    """`show ssl cert` answers, by file: the SHA1 fingerprint and notAfter lines."""
    loaded = {}
    for name, lines in sections.items():
        if not name.startswith(SECTION):
            continue
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        if "SHA1 FingerPrint" in fields:
            loaded[name.removeprefix(SECTION)] = LoadedCert(
                fields["SHA1 FingerPrint"].strip().upper(), fields.get("notAfter", "").strip()
            )
    return loaded


def expiry_warnings(pair: PairState) -> list[str]:
    """Certificates that expire within the warning window: said at every run."""
    return [
        f"warning: {b.chain.path} ({', '.join(b.chain.names)}) expires in"
        f" {b.chain.days_left()} days, on {b.chain.not_after:%Y-%m-%d}"
        for b in pair.bundles
        if b.chain.days_left() < WARN_DAYS
    ]


def certificate_warnings(pair: PairState) -> list[str]:
    """Said at every run: certificates that expire soon, and keys browsers do not take."""
    return expiry_warnings(pair) + [
        f"warning: {b.chain.path} ({', '.join(b.chain.names)}) has an Ed25519 or Ed448 key:"
        " HAProxy serves it, but browsers (Chrome, Firefox, Safari) do not accept such"
        " certificates; give browsers an ECDSA or RSA certificate for these names too"
        for b in pair.bundles
        if isinstance(b.chain.leaf.public_key(), Ed25519PublicKey | Ed448PublicKey)
    ]


def sha1(bundle: TlsBundle) -> str:
    from cryptography.hazmat.primitives import serialization

    der = bundle.chain.leaf.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def served(vip: str, port: int, name: str | None, timeout: float = 3.0) -> str | None:
    """sha256 of the certificate the VIP serves for SNI `name`; None if it cannot be reached.

    No chain verification here: the point is to compare with the inventory's certificate.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((vip, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return hashlib.sha256(der).hexdigest() if der else None


def probe_name(name: str) -> str:
    """A concrete name to send as SNI: a wildcard's own subdomain."""
    return "lbdeploy-check." + name[2:] if name.startswith("*.") else name


def check_service(svc: ServiceState, loaded_on_holder: dict[str, LoadedCert] | None) -> list[str]:
    """Why the VIP does not serve the inventory's certificates, or soon will not."""
    problems = []
    for bundle in svc.tls:
        left = bundle.chain.days_left()
        if left < WARN_DAYS:
            problems.append(
                f"{bundle.chain.path} ({', '.join(bundle.chain.names)}) expires in {left} days"
            )
        for vip, target in svc.targets:
            problems += _check_served(vip, target, svc, bundle, loaded_on_holder)
    return problems


def _check_served(
    vip: IPAddress,
    target: str,
    svc: ServiceState,
    bundle: TlsBundle,
    loaded_on_holder: dict[str, LoadedCert] | None,
) -> list[str]:
    """Shake hands on one VIP with each name of the certificate as SNI."""
    problems: list[str] = []
    for name in bundle.chain.names or ("",):
        got = served(str(vip), svc.port, probe_name(name) if name else None)
        if got is None:
            return problems + _judge_by_holder(target, bundle, loaded_on_holder)
        if got != bundle.chain.fingerprint:
            problems.append(
                f"{target} serves sha256:{got[:16]} for {name or 'no SNI'}, not"
                f" {bundle.chain.path} (sha256:{bundle.chain.fingerprint[:16]})"
            )
    return problems


def _judge_by_holder(
    target: str, bundle: TlsBundle, loaded: dict[str, LoadedCert] | None
) -> list[str]:
    """The VIP is out of reach from here: ask what the holder's HAProxy has loaded."""
    held = (loaded or {}).get(bundle.path)
    if held is None:
        return [f"{target}: no TLS answer from here, and no node holding it has {bundle.path}"]
    if held.sha1 != sha1(bundle):
        return [f"{target}: the holder's HAProxy has another certificate in {bundle.path}"]
    return []
