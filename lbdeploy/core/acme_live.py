"""What the nodes hold of an ACME certificate, judged against this machine's state.

The state directory is the source of truth, but it lives on one machine: another admin's
laptop or a CI runner has none, and would otherwise render the placeholder over the CA's
certificate on every node. Every decision here is pure: the live files' fingerprints
come from the facts, HAProxy's loaded certificates from `status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lbdeploy.core.health import LoadedCert


@dataclass(frozen=True)
class PlaceholderFile:
    """A certificate file that would be rendered as the placeholder: nothing issued here."""

    names: tuple[str, ...]
    path: str  # on the node
    sha256: str  # the placeholder file's content hash (deterministic, see `placeholder`)


@dataclass(frozen=True)
class LocalState:
    """This machine's ACME state as a refusal names it: where, and what in it is unusable."""

    state_dir: str = "?"
    unusable: Mapping[tuple[str, ...], str] = field(default_factory=dict)


def downgrades(
    files: tuple[PlaceholderFile, ...], live: Mapping[str, Mapping[str, str]], local: LocalState
) -> list[str]:
    """Why writing these placeholders would replace a real certificate; empty when none would.

    `live`: node -> path -> sha256 of the file on that node (absent: no file). A node with
    no file, or with the placeholder already, may get the placeholder; any other content
    is a certificate this machine does not hold (issued elsewhere, or the files form's),
    and the run must stop before any change.
    """
    found = []
    for file in files:
        nodes = [
            node
            for node, paths in sorted(live.items())
            if paths.get(file.path) not in (None, file.sha256)
        ]
        broken = local.unusable.get(file.names)
        lacks = f"unusable on this machine ({broken})" if broken else "not on this machine"
        if nodes:
            found.append(
                f"ACME state for {', '.join(file.names)} is {lacks} (state_dir"
                f" {local.state_dir}), but {', '.join(nodes)}"
                f" serve{'s' if len(nodes) == 1 else ''}"
                f" a certificate at {file.path}: nothing was changed, so as not to replace it"
                " with the placeholder; copy the state directory from the machine that issued"
                " it, or run `lbdeploy renew --force` to order a new one (CA rate limits)"
            )
    return found


@dataclass(frozen=True)
class Served:
    """What the nodes' HAProxy holds at an ACME certificate's path."""

    real: tuple[LoadedCert, ...]  # any certificate but the placeholder, one per node having one
    placeholder: bool  # at least one node serves the placeholder

    @property
    def soonest(self) -> LoadedCert | None:
        """The real certificate that expires first: what the pair is safe until."""
        dated = [c for c in self.real if c.days_left() is not None]
        return min(dated, key=lambda c: c.days_left() or 0) if dated else None


def served(placeholder_sha1: str, loaded: Mapping[str, LoadedCert | None]) -> Served:
    """Sort the nodes' loaded certificates (node -> `show ssl cert`) into placeholder and real."""
    held = [c for c in loaded.values() if c is not None]
    return Served(
        tuple(c for c in held if c.sha1 != placeholder_sha1.upper()),
        any(c.sha1 == placeholder_sha1.upper() for c in held),
    )
