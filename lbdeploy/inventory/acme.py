"""Certificates from an ACME CA: the `acme:` block and a service's `tls: {acme: [names]}`.

The names are checked here as HTTP-01 can prove them: DNS names, no wildcard (a wildcard
needs DNS-01), no IP address; they go into a CSR and into nothing lbdeploy renders.
"""

from __future__ import annotations

import difflib
import re
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any

from cryptography import x509
from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import LocalPath, between
from lbdeploy.inventory.urls import check_webhook

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
MAX_BUNDLE = 1024 * 1024
MAX_NAMES = 100  # Let's Encrypt's limit of names on one certificate
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL = re.compile(r"[^@\s\"'<>,;]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _dns_name(value: str) -> str:
    """A name the CA can validate over HTTP-01, lower-cased as certificates carry it."""
    name = value.lower().removesuffix(".")
    if name.startswith("*."):
        raise ValueError(
            f"{value!r} is a wildcard: HTTP-01 cannot prove one (it needs DNS-01); list"
            " the names themselves"
        )
    try:
        ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{value!r} is an IP address; ACME certificates here are for DNS names")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        raise ValueError(
            f"{value!r} is not a DNS name (labels of a-z, 0-9 and '-', at least two, each"
            " 1..63 characters, not starting or ending with '-')"
        )
    return name


def _names(value: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise ValueError(f"{name} is listed twice")
        seen.add(name)
    return value


def _directory(value: str) -> str:
    if not value.startswith("https://"):
        raise ValueError("the ACME directory is an https:// URL (RFC 8555 6.1)")
    return check_webhook(value)


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


DnsName = Annotated[str, AfterValidator(_dns_name)]
DirectoryUrl = Annotated[str, AfterValidator(_directory)]
Email = Annotated[str, AfterValidator(_email)]


class AcmeSettings(Strict):
    """The CA that issues the `tls: {acme: ...}` certificates, and where their keys live."""

    email: Email | None = Field(None, description="the account's contact (optional)")
    directory: DirectoryUrl = Field(
        LETS_ENCRYPT,
        description=f"the CA's directory URL (Let's Encrypt staging: {LETS_ENCRYPT_STAGING})",
    )
    ca_bundle: LocalPath | None = Field(
        None, description="PEM file that the directory's HTTPS certificate chains to (private CA)"
    )
    renew_before_days: Annotated[int, between(1, 180)] = Field(
        30, description="renew a certificate this many days before it expires"
    )

    @field_validator("ca_bundle")
    @classmethod
    def _readable_pem(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The bundle as an absolute path, once it is known to hold PEM certificates."""
        if value is None:
            return None
        path = Path(value).expanduser()
        path = path if path.is_absolute() else Path((info.context or {}).get("base", ".")) / path
        try:
            x509.load_pem_x509_certificates(path.read_bytes()[:MAX_BUNDLE])
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
        except ValueError:
            raise ValueError(f"{path}: not a file of PEM certificates") from None
        return str(path)

    state_dir: LocalPath | None = Field(
        None,
        description="where the account key and each certificate with its key are kept (0700);"
        " default $XDG_STATE_HOME/lbdeploy/acme (~/.local/state/lbdeploy/acme)",
    )


class AcmeCert(Strict):
    """One certificate from the CA for these names (the first is its subject)."""

    acme: Annotated[
        list[DnsName], AfterValidator(_names), Field(min_length=1, max_length=MAX_NAMES)
    ]

    @model_validator(mode="before")
    @classmethod
    def _one_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("cert" in data or "key" in data):
            raise ValueError(
                "a certificate is either files ({cert, key}) or from ACME ({acme: [names]}),"
                " not both"
            )
        return data


def tls_form(value: Any) -> str:
    """Which form a service's `tls:` has: ACME names, or certificate files (a mapping
    with neither `cert` nor `key` but a key like `acme` is taken as a mistyped ACME)."""
    if isinstance(value, AcmeCert):
        return "<acme>"
    if isinstance(value, dict) and (
        "acme" in value
        or (
            not {"cert", "key"} & set(value)
            and difflib.get_close_matches("acme", [str(k) for k in value], n=1)
        )
    ):
        return "<acme>"
    return "<files>"


FORM_TAGS = ("<acme>", "<files>")  # dropped from error paths: not a key of the file
