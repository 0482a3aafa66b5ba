"""The conversation with the ACME CA, through certbot's `acme` library (no hand-written JOSE).

One order: the account (its key made once, 0600, reused; a known key is found again by
`newAccount`, RFC 8555 7.3.1), a fresh key and CSR for the names, each HTTP-01 token
published on every node by a `Publisher` and checked there, and only when every node
answers is the CA told to validate; then poll, finalize, and the chain and key written
0600 into the state directory. The tokens are withdrawn whatever happens. Every failure
is an `AcmeFailure` whose message says why; no key is ever in one.
"""

from __future__ import annotations

import os
import tempfile
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
    chain_and_key,
    deadline,
    explain,
    layout,
    utc_now,
)
from lbdeploy.core.acme_live import LocalState
from lbdeploy.core.desired import Issued
from lbdeploy.errors import LbdeployError
from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.inventory.model import Inventory
from lbdeploy.inventory.tls import CertChain, KeyFile

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


def _private_folder(folder: Path) -> None:
    """The folder and each missing parent made 0700 (not the umask's), the folder kept 0700."""
    for each in reversed((folder, *folder.parents)):
        if not each.exists():  # each folder made here is the operator's alone
            each.mkdir(mode=0o700, exist_ok=True)
            os.chmod(each, 0o700)
    os.chmod(folder, 0o700)


def write_private(path: Path, data: bytes) -> None:
    """A file only the operator reads, in a folder only the operator enters; replaced whole
    (a reader never sees half a key), never through a planted link."""
    _private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_certificate(
    layout: AcmeLayout, names: tuple[str, ...], chain: bytes, key: bytes, stamp: bytes
) -> None:
    """Chain, key and stamp swapped in together: a crash leaves the old set or the new one,
    never a new key beside an old chain (which `renew` would think fine and `up` fail on).

    Each set is written into a fresh version folder beside the certificate's, and the
    certificate's folder is a symbolic link (relative, so a copied state directory keeps
    working) replaced by one rename; a rename onto a non-empty directory is refused on
    Linux, hence the link. The files keep their names, so the layout reads as before.
    """
    import shutil

    link = layout.cert_dir(names)
    _private_folder(link.parent)
    version = Path(tempfile.mkdtemp(dir=link.parent, prefix=f".{link.name}."))  # 0700
    write_private(version / "privkey.pem", key)
    write_private(version / "fullchain.pem", chain)
    write_private(version / "renewed", stamp)
    if link.is_dir() and not link.is_symlink():  # an older lbdeploy's real folder
        os.rename(link, tempfile.mkdtemp(dir=link.parent, prefix=f".{link.name}."))
    tmp = link.parent / f".{link.name}.link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(version.name, tmp)
    os.replace(tmp, link)
    for old in link.parent.glob(f".{link.name}.*"):
        if old != version and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


def _account_key(layout: AcmeLayout) -> Any:
    """The account's key: made once (EC P-256), then always this one."""
    import josepy
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = layout.account_key
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(path, pem)
    return josepy.JWKEC(key=key)


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
    except errors.Error as exc:
        raise AcmeFailure(Failure.REFUSED, names, f"{type(exc).__name__}: {exc}") from None


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
                publisher.withdraw(published)
    chain = done.fullchain_pem.encode()
    now = utc_now()
    write_certificate(
        layout, names, chain, key_pem, now.isoformat(timespec="seconds").encode() + b"\n"
    )
    leaf = x509.load_pem_x509_certificates(chain)[0]
    return Order(names, layout.chain(names), layout.key(names), leaf.not_valid_after_utc)


def state_layout(inv: Inventory, base: Path) -> AcmeLayout | None:
    """The inventory's ACME state directory on this machine; None without `acme:`."""
    if inv.acme is None:
        return None
    return layout(inv.acme, base, os.environ, Path.home())


def read_issued(inv: Inventory, base: Path) -> Issued:
    """Every certificate the state directory holds for the inventory's ACME names, each
    with its key; a pair that cannot be used is left out (`unusable` says why)."""
    return {names: pair for names, (pair, _) in _read_state(inv, base).items() if pair}


def local_state(inv: Inventory, base: Path) -> LocalState:
    """What `up` names when it refuses to put a placeholder over a live certificate."""
    where = state_layout(inv, base)
    return LocalState(str(where.root) if where else "?", unusable(inv, base))


def unusable(inv: Inventory, base: Path) -> dict[tuple[str, ...], str]:
    """Certificates held but not to be deployed, and why: they are due (`renew`)."""
    return {names: why for names, (_, why) in _read_state(inv, base).items() if why}


Read = tuple[tuple[CertChain, KeyFile] | None, str]  # the pair if usable, else why not


def _read_state(inv: Inventory, base: Path) -> dict[tuple[str, ...], Read]:
    from lbdeploy.inventory.tls import key_matches

    where = state_layout(inv, base)
    found: dict[tuple[str, ...], Read] = {}
    if where is None:
        return found
    for svc in inv.services:
        names = svc.acme_names
        if names and where.chain(names).exists() and where.key(names).exists():
            chain, key = where.chain(names).read_bytes(), where.key(names).read_bytes()
            try:
                pair = chain_and_key(chain, key, where.cert_dir(names))
            except ValueError:
                found[names] = (None, f"{where.cert_dir(names)} cannot be read as PEM")
                continue
            if key_matches(*pair):
                found[names] = (pair, "")
            else:
                found[names] = (None, "its key does not match the certificate")
    return found
