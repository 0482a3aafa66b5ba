"""Certificates for HAProxy's HTTPS services: one root-only PEM per certificate (chain and
key), replaced through the runtime API without a reload, and what HAProxy has loaded."""

from __future__ import annotations

import hashlib

import jinja2

from lbdeploy.components.base import Component, Context
from lbdeploy.components.haproxy import HAPROXY_SOCKET, SSL_CERT
from lbdeploy.components.metrics import label, publish
from lbdeploy.core.acme import is_placeholder
from lbdeploy.core.desired import PairState, TlsBundle
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.health import LoadedCert
from lbdeploy.core.paths import STATE_DIR
from lbdeploy.inventory.tls import WARN_DAYS
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

SECTION = "cert "
# When each certificate expires, for Prometheus: HAProxy's exporter (2.6, 3.0) has no such
# metric, so lbdeploy writes it here and node_exporter's textfile collector serves a copy.
EXPIRY_METRIC = f"{STATE_DIR}/certificates.prom"
EXPIRY_TEXTFILE = "lbdeploy-certificates.prom"


class Tls(Component):
    name = "tls"

    def wanted(self, pair: PairState) -> bool:
        return bool(pair.bundles)

    def paths(self, pair: PairState) -> tuple[str, ...]:
        return (*(b.path for b in pair.bundles), EXPIRY_METRIC)

    def files(self, ctx: Context, templates: jinja2.Environment) -> list[ManagedFile]:
        # Root only, never shown; staged with haproxy.cfg (same `configs` step) so that
        # `haproxy -c` checks the config with the new certificates.
        return [
            *(
                ManagedFile(
                    b.path, b.content, 0o600, secret=True, on_change=SSL_CERT, about=b.about
                )
                for b in ctx.pair.bundles
            ),
            # Written with the certificates (a deploy is when expiry changes), then copied
            # where node_exporter reads it, if it is there.
            ManagedFile(
                EXPIRY_METRIC,
                expiry_metric(ctx.pair, ctx.node.name),
                0o644,
                then=publish(EXPIRY_METRIC, EXPIRY_TEXTFILE),
            ),
        ]

    def status_lines(self, pair: PairState) -> Script:
        return cert_lines(pair)


def renewal_paths(pair: PairState, renewed: list[tuple[str, ...]]) -> frozenset[str]:
    """What deploying renewed ACME certificates writes: their files and the expiry metric."""
    paths = {b.path for s in pair.acme_services if s.acme_names in renewed for b in s.tls}
    return frozenset(paths | {EXPIRY_METRIC}) if paths else frozenset()


def expiry_metric(pair: PairState, node: str) -> str:
    """The textfile metrics: each certificate file's leaf notAfter, as a Unix timestamp,
    with where it comes from (`source`: the alert's next step is `renew` for "acme", new
    files for "files"); and whether an ACME certificate is still lbdeploy's placeholder.

    A placeholder has no expiry worth a metric (notAfter 2125): it is left out of the
    expiry, and `lbdeploy_certificate_placeholder` says it serves (1) or not (0), so an
    ACME CA that never issued is alerted on instead of being silent for a century.
    """
    acme = {b.path for s in pair.acme_services for b in s.tls}
    expiry = "lbdeploy_certificate_expiry_timestamp_seconds"
    held = "lbdeploy_certificate_placeholder"
    lines = [
        f"# HELP {expiry} When the certificate lbdeploy deployed expires (leaf notAfter)",
        f"# TYPE {expiry} gauge",
    ]
    flags = []
    for b in pair.bundles:
        source = "acme" if b.path in acme else "files"
        labels = (
            f'node="{label(node)}",path="{label(b.path)}",names="{label(",".join(b.chain.names))}"'
        )
        if source == "acme":
            flags.append(f"{held}{{{labels}}} {int(is_placeholder(b.chain))}")
        if not is_placeholder(b.chain):
            lines.append(
                f'{expiry}{{{labels},source="{source}"}} {int(b.chain.not_after.timestamp())}'
            )
    if flags:
        lines += [
            f"# HELP {held} Whether an ACME certificate is still lbdeploy's placeholder: 1 yes",
            f"# TYPE {held} gauge",
            *flags,
        ]
    return "\n".join(lines) + "\n"


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
    from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return (
        expiry_warnings(pair)
        + [
            f"warning: {b.chain.path} ({', '.join(b.chain.names)}) has an Ed25519 or Ed448 key:"
            " HAProxy serves it, but browsers (Chrome, Firefox, Safari) do not accept such"
            " certificates; give browsers an ECDSA or RSA certificate for these names too"
            for b in pair.bundles
            if isinstance(b.chain.leaf.public_key(), Ed25519PublicKey | Ed448PublicKey)
            and not is_placeholder(b.chain)
        ]
        + [
            f"note: {b.path} ({', '.join(b.chain.names)}) is a placeholder until the ACME CA"
            " issues its certificate (`lbdeploy renew`)"
            for b in pair.bundles
            if is_placeholder(b.chain)
        ]
    )


def sha1(bundle: TlsBundle) -> str:
    from cryptography.hazmat.primitives import serialization

    der = bundle.chain.leaf.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def probe_name(name: str) -> str:
    """A concrete name to send as SNI: a wildcard's own subdomain."""
    return "lbdeploy-check." + name[2:] if name.startswith("*.") else name
