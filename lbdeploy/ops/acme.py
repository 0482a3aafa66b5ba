"""The conversation with the ACME CA, through certbot's `acme` library (no hand-written JOSE).

One order: the account (its key made once, 0600, reused; a known key is found again by
`newAccount`, RFC 8555 7.3.1), a fresh key and CSR for the names, each HTTP-01 token
published on every node by a `Publisher` and checked there, and only when every node
answers is the CA told to validate; then poll, finalize, and the chain and key written
0600 into the state directory. The tokens are withdrawn whatever happens. Every failure
is an `AcmeFailure` whose message says why; no key is ever in one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, cast

from lbdeploy.core.acme import (
    AcmeLayout,
    Challenge,
    deadline,
    explain,
    utc_now,
)
from lbdeploy.errors import LbdeployError
from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.ops.acme_store import write_certificate, write_private

NETWORK_TIMEOUT = 30  # seconds for one HTTP exchange with the CA
ORDER_TIMEOUT = 120.0  # seconds for validation and issuance once the answers are sent
USER_AGENT = "lbdeploy (acme-python)"


class Failure(Enum):
    UNREACHABLE = "CA unreachable"
    RATE_LIMITED = "rate limited"
    VALIDATION = "validation failed"
    NODES = "a node did not answer"
    REFUSED = "the CA refused"
    TIMEOUT = "timed out"
    STATE = "this machine's ACME state is unusable"


class AcmeFailure(LbdeployError):
    """An order that did not give a certificate; the one held keeps serving."""

    def __init__(self, kind: Failure, names: tuple[str, ...], why: str) -> None:
        self.kind = kind
        self.names = names
        super().__init__(f"ACME certificate for {', '.join(names)}: {kind.value}: {why}")


class Publisher(Protocol):
    """Puts the tokens where every node answers them: the nodes' seam of an order."""

    def publish(self, challenges: tuple[Challenge, ...]) -> list[str]:
        """Publish on every node and check there; each node that does not answer, said."""
        ...

    def withdraw(self, challenges: tuple[Challenge, ...]) -> None: ...


@dataclass(frozen=True)
class Order:
    """A certificate just issued: where it was written, until when it is valid."""

    names: tuple[str, ...]
    chain: Path
    key: Path
    not_after: datetime


def _account_key(layout: AcmeLayout) -> Any:
    """The account's key: made once (EC P-256), then always this one."""
    import josepy
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = layout.account_key
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError):  # never quote the file: it is (or was) a key
            raise AccountKeyUnusable(path) from None
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(path, pem)
    return josepy.JWKEC(key=key)


class AccountKeyUnusable(Exception):
    """The account key on disk cannot be read: `_explained` says where, never what."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(str(path))


def _client(settings: AcmeSettings, layout: AcmeLayout, names: tuple[str, ...]) -> Any:
    """A client with its account: registered, or found again by its key."""
    import josepy
    from acme import client, errors, messages

    # requests takes a CA bundle's path where acme types a bool (client.py _send_request
    # sets verify=self.verify_ssl).
    verify = cast(bool, settings.ca_bundle or True)
    net = client.ClientNetwork(
        _account_key(layout),
        alg=josepy.ES256,
        verify_ssl=verify,
        user_agent=USER_AGENT,
        timeout=NETWORK_TIMEOUT,
    )
    acme = client.ClientV2(client.ClientV2.get_directory(settings.directory, net), net)
    new = messages.NewRegistration.from_data(email=settings.email, terms_of_service_agreed=True)
    try:
        regr = acme.new_account(new)
    except errors.ConflictError as known:
        regr = messages.RegistrationResource(uri=known.location, body=messages.Registration())
        net.account = regr
    write_private(layout.account_url, (regr.uri or "").encode() + b"\n")
    return acme


def _new_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _challenges(acme: Any, order: Any) -> list[tuple[Any, Any, Challenge]]:
    """Each pending authorization's HTTP-01 challenge, with what answers it."""
    from acme import challenges

    found = []
    for authz in order.authorizations:
        if authz.body.status.name == "valid":
            continue  # validated by an earlier order of this account
        name = authz.body.identifier.value
        http01 = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
        if not http01:
            raise AcmeFailure(Failure.REFUSED, (name,), "the CA offers no HTTP-01 challenge")
        body = http01[0]
        response, validation = body.response_and_validation(acme.net.key)
        found.append((body, response, Challenge(name, body.chall.encode("token"), validation)))
    return found


@contextmanager
def _explained(names: tuple[str, ...], directory: str) -> Iterator[None]:
    """The library's and the network's errors as an AcmeFailure saying what to do."""
    import josepy
    import requests
    from acme import errors, messages

    try:
        yield
    except AcmeFailure:
        raise
    except messages.Error as exc:
        kind = Failure.RATE_LIMITED if exc.code == "rateLimited" else Failure.REFUSED
        raise AcmeFailure(kind, names, explain(exc.code, exc.detail or "")) from None
    except errors.ValidationError as exc:
        said = []
        for authz in exc.failed_authzrs:
            for chall in authz.body.challenges:
                if chall.error is not None:
                    detail = f"{authz.body.identifier.value}: {chall.error.detail or ''}"
                    said.append(explain(chall.error.code, detail))
        raise AcmeFailure(Failure.VALIDATION, names, "; ".join(said) or str(exc)) from None
    except errors.IssuanceError as exc:
        raise AcmeFailure(
            Failure.REFUSED, names, explain(exc.error.code, exc.error.detail or "")
        ) from None
    except errors.TimeoutError:
        raise AcmeFailure(
            Failure.TIMEOUT, names, f"the CA did not finish within {ORDER_TIMEOUT:.0f} s"
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        reason = type(exc).__name__
        if isinstance(exc, requests.exceptions.SSLError):
            reason = "its HTTPS certificate is not trusted (ca_bundle for a private CA)"
        raise AcmeFailure(Failure.UNREACHABLE, names, f"{directory}: {reason}") from None
    except requests.exceptions.RequestException as exc:  # redirects, a bad URL, a cut body
        raise AcmeFailure(
            Failure.UNREACHABLE, names, f"{directory}: {type(exc).__name__}"
        ) from None
    except errors.Error as exc:
        raise AcmeFailure(Failure.REFUSED, names, f"{type(exc).__name__}: {exc}") from None
    except josepy.errors.Error as exc:  # JSON that is not ACME's: not a directory, or a proxy
        raise AcmeFailure(
            Failure.REFUSED,
            names,
            f"{directory}: the answer is not ACME ({type(exc).__name__}); is this the CA's"
            " directory URL?",
        ) from None
    except AccountKeyUnusable as exc:
        raise AcmeFailure(
            Failure.STATE,
            names,
            f"{exc.path} is not a PEM private key: restore it from a backup, or move it"
            " aside to register a new account",
        ) from None


def _withdraw(publisher: Publisher, published: tuple[Challenge, ...]) -> None:
    """Withdraw the tokens, never raising: a failure here must not hide the order's own
    error, nor lose a certificate just issued. A token left in a node's map is harmless
    (a key authorization is public) and the next reload or order replaces it."""
    with contextlib.suppress(Exception):
        publisher.withdraw(published)


def issue(
    settings: AcmeSettings,
    layout: AcmeLayout,
    names: tuple[str, ...],
    publisher: Publisher,
    order_timeout: float = ORDER_TIMEOUT,
) -> Order:
    """One order for `names`; the chain and key in the state directory when it succeeds."""
    from acme import crypto_util
    from cryptography import x509

    with _explained(names, settings.directory):
        acme = _client(settings, layout, names)
        key_pem = _new_key()
        order = acme.new_order(crypto_util.make_csr(key_pem, list(names)))
        pending = _challenges(acme, order)
        published = tuple(c for _, _, c in pending)
        try:
            silent = publisher.publish(published) if published else []
            if silent:
                raise AcmeFailure(
                    Failure.NODES,
                    names,
                    "not submitted to the CA, since these nodes do not answer: "
                    + "; ".join(silent),
                )
            for body, response, _ in pending:
                acme.answer_challenge(body, response)
            done = acme.poll_and_finalize(order, deadline(utc_now(), order_timeout))
        finally:
            if published:
                _withdraw(publisher, published)
    chain = done.fullchain_pem.encode()
    now = utc_now()
    write_certificate(
        layout, names, chain, key_pem, now.isoformat(timespec="seconds").encode() + b"\n"
    )
    leaf = x509.load_pem_x509_certificates(chain)[0]
    return Order(names, layout.chain(names), layout.key(names), leaf.not_valid_after_utc)
