"""Every ACME failure is one line naming the file or URL, never a key, never hidden."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import josepy
import pytest
import requests

from lbdeploy.core.acme import AcmeLayout, Challenge
from lbdeploy.inventory.acme import AcmeSettings
from lbdeploy.ops import acme
from lbdeploy.ops.acme import AcmeFailure, Failure, _explained, issue

NAMES = ("www.example.org",)
URL = "https://ca.example/dir"
CHALLENGE = Challenge("www.example.org", "T" * 43, "T" * 43 + "." + "k" * 43)


def _settings(tmp_path: Path) -> AcmeSettings:
    return AcmeSettings(directory=URL, state_dir=str(tmp_path))


def test_a_corrupt_account_key_is_named_and_never_quoted(tmp_path: Path) -> None:
    where = AcmeLayout(tmp_path / "ca")
    where.root.mkdir()
    where.account_key.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n")
    with pytest.raises(AcmeFailure) as caught:
        issue(_settings(tmp_path), where, NAMES, publisher=SimpleNamespace())  # type: ignore[arg-type]
    assert caught.value.kind is Failure.STATE
    assert str(where.account_key) in str(caught.value)
    assert "c2VjcmV0" not in str(caught.value)


@pytest.mark.parametrize(
    ("raised", "kind", "said"),
    [
        (josepy.errors.DeserializationError("x"), Failure.REFUSED, "the answer is not ACME"),
        (requests.exceptions.TooManyRedirects(), Failure.UNREACHABLE, "TooManyRedirects"),
        (requests.exceptions.InvalidURL(), Failure.UNREACHABLE, "InvalidURL"),
    ],
)
def test_library_and_network_errors_become_one_line(
    raised: Exception, kind: Failure, said: str
) -> None:
    with pytest.raises(AcmeFailure) as caught, _explained(NAMES, URL):
        raise raised
    assert caught.value.kind is kind
    assert URL in str(caught.value) and said in str(caught.value)


class _SilentNodes:
    """A node does not answer, and withdrawing fails too."""

    def publish(self, challenges: tuple[Challenge, ...]) -> list[str]:
        return ["hera: token not in HAProxy's map"]

    def withdraw(self, challenges: tuple[Challenge, ...]) -> None:
        raise RuntimeError("connection lost")


def test_a_failing_withdrawal_never_hides_the_orders_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client: Any = SimpleNamespace(new_order=lambda csr: SimpleNamespace())
    monkeypatch.setattr(acme, "_client", lambda *args: client)
    monkeypatch.setattr(acme, "_challenges", lambda *args: [(None, None, CHALLENGE)])
    with pytest.raises(AcmeFailure) as caught:
        issue(_settings(tmp_path), AcmeLayout(tmp_path / "ca"), NAMES, _SilentNodes())
    assert caught.value.kind is Failure.NODES and "hera" in str(caught.value)
