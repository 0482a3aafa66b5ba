"""ACME, the pure part: where keys live, what is due, which nodes answered, what failed.

The conversation with the CA (`ops/acme.py`) and the nodes (`components/acme.py` builds
their scripts) are effects; every decision they need is here, with the clock and the
environment passed in, so each is tested without a network.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.inventory.tls import CertChain, KeyFile
from lbdeploy.scripts.shell import Secret

if TYPE_CHECKING:
    from lbdeploy.core.desired import Issued
    from lbdeploy.inventory.model import Inventory

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
# RFC 8555 8.3: a token is base64url; checked before it reaches a node's runtime API.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")
_KEY_AUTHZ = re.compile(r"[A-Za-z0-9_-]{16,256}\.[A-Za-z0-9_-]{43}")


def default_root(env: Mapping[str, str], home: Path) -> Path:
    """$XDG_STATE_HOME/lbdeploy/acme (XDG: ~/.local/state when unset or not absolute).

    Not beside the inventory: inventories live in git, and a key must never be committed;
    not keyed by the inventory's path: moving the file must not re-issue (CA rate limits).
    """
    xdg = env.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "state"
    return base / "lbdeploy" / "acme"


def ca_folder(directory: str) -> str:
    """A folder name per CA directory, so staging's account and certificates are never
    taken for production's: 'acme-v02.api.letsencrypt.org-directory'."""
    parts = urlsplit(directory)
    text = (parts.netloc + parts.path).strip("/")
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)[:120] or "ca"


@dataclass(frozen=True)
class AcmeLayout:
    """The operator's state for one CA: one account, one folder per certificate."""

    root: Path  # <state_dir>/<ca folder>

    @property
    def account_key(self) -> Path:
        return self.root / "account.key"

    @property
    def account_url(self) -> Path:
        return self.root / "account.url"

    def cert_dir(self, names: tuple[str, ...]) -> Path:
        """The first name (what a person looks for) and a hash of all (a change of names is
        another certificate)."""
        digest = hashlib.sha256(",".join(sorted(names)).encode()).hexdigest()[:8]
        return self.root / "certs" / f"{names[0]}-{digest}"

    def chain(self, names: tuple[str, ...]) -> Path:
        return self.cert_dir(names) / "fullchain.pem"

    def key(self, names: tuple[str, ...]) -> Path:
        return self.cert_dir(names) / "privkey.pem"

    def renewed(self, names: tuple[str, ...]) -> Path:
        """When lbdeploy last had this certificate issued (ISO 8601): status shows it."""
        return self.cert_dir(names) / "renewed"


def layout(settings: AcmeSettings, base: Path, env: Mapping[str, str], home: Path) -> AcmeLayout:
    """The inventory's `state_dir` (relative to the inventory), else the default."""
    if settings.state_dir is not None:
        given = Path(settings.state_dir).expanduser()
        root = given if given.is_absolute() else base / given
    else:
        root = default_root(env, home)
    return AcmeLayout(root / ca_folder(settings.directory))


@dataclass(frozen=True)
class Held:
    """What the state directory holds for one certificate (None: nothing issued yet)."""

    names: tuple[str, ...]  # the names on the certificate held
    not_after: datetime
    issued_by_acme: bool  # False: the placeholder that serves until the first issuance


def why_due(
    wanted: tuple[str, ...], held: Held | None, now: datetime, renew_before_days: int
) -> str | None:
    """Why this certificate must be ordered now; None when it need not be."""
    if held is None:
        return "not issued yet"
    if not held.issued_by_acme:
        return "only a placeholder is held (never issued)"
    if set(held.names) != set(wanted):
        return "its names changed"
    left = held.not_after - now
    if left <= timedelta(days=renew_before_days):
        days = max(left.days, 0)
        return f"expires in {days} days ({held.not_after:%Y-%m-%d}), within {renew_before_days}"
    return None


@dataclass(frozen=True)
class Judgement:
    """One ACME certificate of the inventory: what the state holds of it and why it is due."""

    names: tuple[str, ...]
    held: Held | None
    why: str | None  # None: it need not be ordered now


def judge_due(
    inv: Inventory, issued: Issued, broken: Mapping[tuple[str, ...], str], now: datetime
) -> list[Judgement]:
    """Each ACME certificate judged once, so `renew` orders what `status` calls due: held but
    unusable (`broken`, with why), else `why_due`."""
    if inv.acme is None:
        return []
    found = []
    for names in (svc.acme_names for svc in inv.services if svc.acme_names):
        chain = issued.get(names)
        state = held(chain[0]) if chain else None
        why = broken.get(names) or why_due(names, state, now, inv.acme.renew_before_days)
        found.append(Judgement(names, state, why))
    return found


@dataclass(frozen=True)
class Challenge:
    """One HTTP-01 challenge: what a node must answer at which path (no secret: the key
    authorization is the token and the account key's public thumbprint)."""

    name: str
    token: str
    key_authorization: str

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.token) or not _KEY_AUTHZ.fullmatch(self.key_authorization):
            raise ValueError(f"the CA sent a token for {self.name} that is not base64url")

    @property
    def path(self) -> str:
        return CHALLENGE_PREFIX + self.token


@dataclass(frozen=True)
class NodeAnswer:
    """What one node said when asked for a token: from its HAProxy's map, and over HTTP
    where the node holds the VIP (a backup's VIP leads to the holder, not to itself)."""

    in_map: bool
    http: str  # "ok", "skip" (VIP not local), or what was served instead

    @property
    def answered(self) -> bool:
        return self.in_map and self.http in ("ok", "skip")


def parse_answers(lines: list[str], challenges: tuple[Challenge, ...]) -> dict[str, NodeAnswer]:
    """A node's check script's lines ('map TOKEN ok|missing', 'http TOKEN ok|skip|...',
    one http line per VIP): the first wrong body wins, else ok if any VIP answered."""
    in_map: dict[str, bool] = {c.token: False for c in challenges}
    http: dict[str, list[str]] = {c.token: [] for c in challenges}
    for line in lines:
        kind, _, rest = line.partition(" ")
        token, _, said = rest.partition(" ")
        if token in in_map and kind == "map":
            in_map[token] = said.strip() == "ok"
        elif token in http and kind == "http":
            http[token].append(said.strip())
    return {token: NodeAnswer(in_map[token], _worst(http[token])) for token in in_map}


def _worst(results: list[str]) -> str:
    wrong = [r for r in results if r not in ("ok", "skip")]
    if wrong:
        return wrong[0]
    if not results:
        return "no answer"
    return "ok" if "ok" in results else "skip"


def unanswered(answers: Mapping[str, Mapping[str, NodeAnswer]]) -> list[str]:
    """'node: name (why)' for each node and token not answered; empty when all were."""
    found = []
    for node, tokens in answers.items():
        for token, answer in tokens.items():
            if not answer.answered:
                why = "not in HAProxy's map" if not answer.in_map else f"served {answer.http!r}"
                found.append(f"{node}: token {token[:12]}… {why}")
    return found


# RFC 8555 6.7 error types, in an operator's words; the CA's detail follows each.
_PROBLEMS = {
    "rateLimited": "the CA's rate limit was reached; the old certificate keeps serving,"
    " try again after the time the CA gives",
    "dns": "a name does not resolve (or not to the VIP) in the CA's DNS",
    "connection": "the CA could not connect to port 80 of a name: does it resolve to the"
    " VIP, and is port 80 open to the internet?",
    "unauthorized": "the CA got another answer than the token from a name: does the name"
    " resolve to this pair's VIP?",
    "incorrectResponse": "the CA got another answer than the token",
    "rejectedIdentifier": "the CA will not issue for a name",
    "caa": "a CAA record of a name forbids this CA",
    "malformed": "the CA refused the request as malformed",
    "badNonce": "the CA refused a nonce twice",
    "accountDoesNotExist": "the account key is not known to this CA",
    "externalAccountRequired": "this CA needs an external account binding (not supported)",
}


def explain(code: str | None, detail: str) -> str:
    """An ACME problem (its short code) as one line that says what to do."""
    said = _PROBLEMS.get(code or "", f"the CA refused ({code or 'no error type'})")
    return f"{said}: {detail}" if detail else said


def deadline(now: datetime, seconds: float) -> datetime:
    """acme's deadlines are naive local datetimes (client.py compares with datetime.now())."""
    return (now + timedelta(seconds=seconds)).astimezone().replace(tzinfo=None)


def utc_now() -> datetime:
    return datetime.now(UTC)


PLACEHOLDER_ISSUER = "lbdeploy placeholder (no ACME certificate issued yet)"
PLACEHOLDER_FROM = datetime(2025, 1, 1, tzinfo=UTC)
PLACEHOLDER_UNTIL = datetime(2125, 1, 1, tzinfo=UTC)


def placeholder(names: tuple[str, ...]) -> tuple[CertChain, KeyFile]:
    """A self-signed certificate that lets HAProxy bind HTTPS until the first issuance:
    the port-80 frontend that answers the CA must run before the CA is asked.

    The same for the same names (an Ed25519 key from their hash; Ed25519 signatures and
    fixed dates are deterministic), so every run renders the same file and nothing is
    kept for it. Its key is no secret of anyone's: no client trusts this certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID

    seed = hashlib.sha256(("lbdeploy placeholder\0" + ",".join(names)).encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PLACEHOLDER_ISSUER)]))
        .public_key(key.public_key())
        .serial_number(int.from_bytes(seed[:8], "big") | 1)
        .not_valid_before(PLACEHOLDER_FROM)
        .not_valid_after(PLACEHOLDER_UNTIL)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, None)
    )
    return chain_and_key(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        Path("<placeholder>"),
    )


def chain_and_key(chain_pem: bytes, key_pem: bytes, where: Path) -> tuple[CertChain, KeyFile]:
    """A certificate with its chain and its key, as the files form gives them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = tuple(x509.load_pem_x509_certificates(chain_pem))
    key = serialization.load_pem_private_key(key_pem, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
    return (
        CertChain(where / "fullchain.pem", pem, certs),
        KeyFile(where / "privkey.pem", Secret(key_pem.decode()), public),
    )


def is_placeholder(chain: CertChain) -> bool:
    return chain.issuer == f"CN={PLACEHOLDER_ISSUER}"


def held(chain: CertChain) -> Held:
    return Held(chain.names, chain.not_after, not is_placeholder(chain))
