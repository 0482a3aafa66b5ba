"""HTTPS as `verify` sees it from here: what the VIP serves, by handshake.

`verify` shakes hands with every TLS VIP:port from
here, with SNI for each of a certificate's names, and compares what is served with the
inventory's certificate, by fingerprint; out of reach, it asks what the holder's HAProxy
loaded (`components/tls.py`).
"""

from __future__ import annotations

import hashlib
import socket
import ssl

from lbdeploy.addresses import IPAddress
from lbdeploy.components.tls import probe_name, sha1
from lbdeploy.core.acme import is_placeholder
from lbdeploy.core.acme_live import Served
from lbdeploy.core.acme_live import served as served_by
from lbdeploy.core.desired import ServiceState, TlsBundle
from lbdeploy.core.health import LoadedCert
from lbdeploy.inventory.tls import WARN_DAYS


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


def check_service(svc: ServiceState, loaded_on_holder: dict[str, LoadedCert] | None) -> list[str]:
    """Why the VIP does not serve the inventory's certificates, or soon will not."""
    problems = []
    for bundle in svc.tls:
        if is_placeholder(bundle.chain):
            seen = served_by((sha1(bundle)), {"holder": (loaded_on_holder or {}).get(bundle.path)})
            if seen.real:
                problems += _judge_unheld(svc, seen)
                continue
        left = bundle.chain.days_left()
        if left < WARN_DAYS:
            problems.append(
                f"{bundle.chain.path} ({', '.join(bundle.chain.names)}) expires in {left} days"
            )
        for vip, target in svc.targets:
            problems += _check_served(vip, target, svc, bundle, loaded_on_holder)
    return problems


def _judge_unheld(svc: ServiceState, seen: Served) -> list[str]:
    """The nodes serve an ACME certificate this machine's state lacks (issued elsewhere):
    judge that one, not the placeholder this machine would render."""
    cert = seen.soonest
    left = cert.days_left() if cert else None
    if left is not None and left < WARN_DAYS:
        return [
            f"{', '.join(svc.acme_names)}: the certificate the nodes serve expires in {left}"
            " days (this machine has no ACME state for it)"
        ]
    return []


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
