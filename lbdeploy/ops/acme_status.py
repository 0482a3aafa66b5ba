"""ACME certificates as `status` and `verify` show them: this machine's state, and what the
nodes serve when that state has nothing (issued from another machine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lbdeploy.core.acme import judge_due, utc_now
from lbdeploy.core.acme_live import Served, served
from lbdeploy.core.desired import PairState
from lbdeploy.core.health import NodeStatus
from lbdeploy.inventory.model import Inventory
from lbdeploy.ops.acme_store import read_issued, state_layout, unusable


@dataclass(frozen=True)
class AcmeStatus:
    """What the operator's state says of one ACME certificate (status, verify), and what
    the nodes serve when that state has nothing for it."""

    names: tuple[str, ...]
    not_after: datetime | None  # None: nothing issued in this machine's state
    renewed: str  # when lbdeploy last had it issued, as written; "" if never
    due: str | None  # why it would be ordered now
    state_dir: str = ""  # this machine's state for the CA
    served: Served | None = None  # the nodes' view (None: not asked)

    @property
    def held_elsewhere(self) -> bool:
        """The nodes serve a real certificate that this machine's state does not hold."""
        return self.not_after is None and self.served is not None and bool(self.served.real)

    def line(self) -> str:
        names = ", ".join(self.names)
        if self.held_elsewhere and self.served is not None:
            cert = self.served.soonest
            until = f", expiring {cert.not_after}" if cert and cert.not_after else ""
            return (
                f"ACME {names}: the nodes serve a certificate{until}, but it is not in this"
                f" machine's ACME state ({self.state_dir}): copy that directory from the"
                " machine that issued it before `up` or `renew` here"
            )
        expiry = f"expires {self.not_after:%Y-%m-%d}" if self.not_after else "not issued yet"
        said = f"ACME {names}: {expiry}, last renewed {self.renewed or 'never'}"
        return said + (f"; due: {self.due}" if self.due else "")

    @property
    def problem(self) -> str | None:
        """For verify: only a placeholder serving is one (a certificate held elsewhere is not)."""
        if self.not_after is not None or self.held_elsewhere:
            return None
        return (
            f"{', '.join(self.names)}: no ACME certificate issued yet (a placeholder serves);"
            " run `lbdeploy renew`"
        )

    def to_json(self) -> dict[str, object]:
        cert = self.served.soonest if self.served else None
        return {
            "names": list(self.names),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "renewed": self.renewed or None,
            "due": None if self.held_elsewhere else self.due,
            "state_dir": self.state_dir or None,
            "held_here": self.not_after is not None,
            "served_not_after": cert.not_after if self.held_elsewhere and cert else None,
        }


def acme_status(inv: Inventory, base: Path) -> list[AcmeStatus]:
    """Each ACME certificate's expiry and last renewal, from this machine's state."""
    where = state_layout(inv, base)
    if where is None:
        return []
    found = []
    for cert in judge_due(inv, read_issued(inv, base), unusable(inv, base), utc_now()):
        stamp = where.renewed(cert.names)
        renewed = stamp.read_text().strip() if stamp.exists() else ""
        state = cert.held
        issued_at = state.not_after if state and state.issued_by_acme else None
        found.append(AcmeStatus(cert.names, issued_at, renewed, cert.why, str(where.root)))
    return found


def with_served(
    certs: list[AcmeStatus], pair: PairState, statuses: list[NodeStatus]
) -> list[AcmeStatus]:
    """Each certificate with what the nodes' HAProxy holds at its path (`show ssl cert`)."""
    from dataclasses import replace

    from lbdeploy.components.tls import sha1

    found = []
    for cert in certs:
        svc = next((s for s in pair.acme_services if s.acme_names == cert.names), None)
        if svc is None or not svc.tls or cert.not_after is not None:
            found.append(cert)
            continue
        bundle = svc.tls[0]
        loaded = {s.node: s.certs.get(bundle.path) for s in statuses}
        found.append(replace(cert, served=served(sha1(bundle), loaded)))
    return found
