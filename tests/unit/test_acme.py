"""ACME's pure part: where keys live, what is due, what the nodes answered, what a failure says;
and that an ACME key is masked like any certificate key."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lbdeploy.core.acme import (
    AcmeLayout,
    Challenge,
    Held,
    ca_folder,
    chain_and_key,
    default_root,
    explain,
    held,
    is_placeholder,
    parse_answers,
    placeholder,
    unanswered,
    why_due,
)
from lbdeploy.core.desired import derive
from lbdeploy.core.render import render_node
from lbdeploy.inventory import Inventory, load_inventory
from lbdeploy.ops.acme_status import acme_status
from lbdeploy.ops.acme_store import read_issued, unusable, write_certificate, write_private
from lbdeploy.ops.renew import due
from tests.tlsutil import cert_pem, issue, key_pem, make_ca

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = ("www.example.org", "example.org")
CASE = Path(__file__).parent / "data" / "render" / "acme" / "inventory.yaml"
TOKEN = "T" * 43
AUTHZ = TOKEN + "." + "k" * 43


def test_due_when_missing_placeholder_renamed_or_within_the_window() -> None:
    later = NOW + timedelta(days=60)
    assert why_due(NAMES, None, NOW, 30) == "not issued yet"
    assert "placeholder" in (why_due(NAMES, Held(NAMES, later, False), NOW, 30) or "")
    assert why_due(NAMES, Held(NAMES[:1], later, True), NOW, 30) == "its names changed"
    assert why_due(NAMES, Held(NAMES[::-1], later, True), NOW, 30) is None
    assert why_due(NAMES, Held(NAMES, later, True), NOW, 60) == (
        "expires in 60 days (2026-07-31), within 60"
    )
    assert why_due(NAMES, Held(NAMES, NOW - timedelta(days=1), True), NOW, 30) == (
        "expires in 0 days (2026-05-31), within 30"
    )


def test_state_lives_in_xdg_state_per_ca_and_per_set_of_names(tmp_path: Path) -> None:
    assert default_root({"XDG_STATE_HOME": "/s"}, Path("/h")) == Path("/s/lbdeploy/acme")
    assert default_root({"XDG_STATE_HOME": "rel"}, Path("/h")) == Path(
        "/h/.local/state/lbdeploy/acme"
    )
    assert ca_folder("https://acme-v02.api.letsencrypt.org/directory") == (
        "acme-v02.api.letsencrypt.org-directory"
    )
    assert ca_folder("https://127.0.0.1:14000/dir") == "127.0.0.1-14000-dir"
    where = AcmeLayout(tmp_path)
    assert where.cert_dir(NAMES).name.startswith("www.example.org-")
    assert where.cert_dir(NAMES[::-1]).name.startswith("example.org-")
    assert where.cert_dir(NAMES).name[-8:] == where.cert_dir(NAMES[::-1]).name[-8:]


def test_a_node_answers_when_its_map_has_the_token_and_no_vip_it_holds_serves_else() -> None:
    challenge = Challenge("www.example.org", TOKEN, AUTHZ)
    master = parse_answers(
        [f"map {TOKEN} ok", f"http {TOKEN} ok", f"http {TOKEN} skip"], (challenge,)
    )
    backup = parse_answers([f"map {TOKEN} ok", f"http {TOKEN} skip"], (challenge,))
    wrong = parse_answers([f"map {TOKEN} ok", f"http {TOKEN} <html>"], (challenge,))
    missing = parse_answers([f"map {TOKEN} missing", f"http {TOKEN} skip"], (challenge,))
    silent = parse_answers([], (challenge,))
    assert master[TOKEN].answered and backup[TOKEN].answered
    assert unanswered({"hera": master, "afrodita": backup}) == []
    assert unanswered({"hera": wrong, "afrodita": missing, "zeus": silent}) == [
        f"hera: token {TOKEN[:12]}… served '<html>'",
        f"afrodita: token {TOKEN[:12]}… not in HAProxy's map",
        f"zeus: token {TOKEN[:12]}… not in HAProxy's map",
    ]


def test_a_token_that_could_break_a_runtime_api_line_is_refused() -> None:
    with pytest.raises(ValueError, match="not base64url"):
        Challenge("www.example.org", TOKEN + " x", AUTHZ)
    with pytest.raises(ValueError, match="not base64url"):
        Challenge("www.example.org", TOKEN, AUTHZ + "\nset ssl cert")


def test_failures_say_what_to_do() -> None:
    assert explain("rateLimited", "too many certificates").startswith(
        "the CA's rate limit was reached; the old certificate keeps serving"
    )
    assert "resolve to this pair's VIP" in explain("unauthorized", "")
    assert explain("somethingNew", "x") == "the CA refused (somethingNew): x"


def test_the_placeholder_is_the_same_at_every_run_and_known_as_one() -> None:
    one, two = placeholder(NAMES), placeholder(NAMES)
    assert one[0].pem == two[0].pem and one[1].pem == two[1].pem
    assert is_placeholder(one[0]) and not held(one[0]).issued_by_acme
    assert one[0].names[:2] == ("www.example.org", "example.org")


def _issued(tmp_path: Path) -> tuple[bytes, bytes]:
    ca = make_ca()
    cert, key = issue(ca, list(NAMES), days=80)
    return (cert_pem(cert, ca[0]).encode(), key_pem(key).encode())


def test_issued_certificate_is_rendered_and_its_key_masked(tmp_path: Path) -> None:
    inv = load_inventory(CASE, {})
    chain, key = _issued(tmp_path)
    issued = {NAMES: chain_and_key(chain, key, tmp_path)}
    desired = derive(inv, CASE.parent, issued=issued)
    shop = desired.pair.acme_services[0]
    assert shop.tls[0].chain.pem == chain.decode() and not is_placeholder(shop.tls[0].chain)
    secret_lines = {s.reveal() for s in desired.pair.secrets}
    body = [line for line in key.decode().splitlines() if not line.startswith("-----")]
    assert body and set(body) <= secret_lines
    spec = render_node(desired.pair, desired.nodes[0])[shop.tls[0].path]
    assert spec.secret and "PRIVATE KEY" not in spec.shown()
    assert all(line not in spec.diff("x", None, None) for line in body)


def test_the_state_directory_is_read_and_judged(tmp_path: Path) -> None:
    text = CASE.read_text() + "\n# state\n"
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(text.replace("acme:\n", f"acme:\n  state_dir: {tmp_path / 'state'}\n", 1))
    inv = load_inventory(inv_path, {})
    assert [d.why for d in due(inv, read_issued(inv, tmp_path))] == ["not issued yet"] * 2
    where = AcmeLayout(tmp_path / "state" / ca_folder(inv.acme.directory))  # type: ignore[union-attr]
    chain, key = _issued(tmp_path)
    write_private(where.chain(NAMES), chain)
    write_private(where.key(NAMES), key)
    assert where.key(NAMES).stat().st_mode & 0o777 == 0o600
    assert where.cert_dir(NAMES).stat().st_mode & 0o777 == 0o700
    for folder in (tmp_path / "state", where.cert_dir(NAMES).parent):  # made here: 0700 too
        assert folder.stat().st_mode & 0o777 == 0o700
    issued = read_issued(inv, tmp_path)
    assert list(issued) == [NAMES]
    todo = due(inv, issued)
    assert [d.names for d in todo] == [("api.example.org",)]
    assert next(d.why for d in due(inv, issued, force=True)) == "--force"

    write_private(where.renewed(NAMES), b"2026-06-01T03:17:00+00:00\n")
    shop, api = acme_status(inv, tmp_path)
    assert shop.line().startswith("ACME www.example.org, example.org: expires ")
    assert shop.line().endswith("last renewed 2026-06-01T03:17:00+00:00")
    assert api.line() == (
        "ACME api.example.org: not issued yet, last renewed never; due: not issued yet"
    )
    assert api.to_json() == {
        "names": ["api.example.org"],
        "not_after": None,
        "renewed": None,
        "due": "not issued yet",
        "state_dir": str(where.root),
        "held_here": False,
        "served_not_after": None,
    }


def _state_inventory(tmp_path: Path) -> tuple[Inventory, AcmeLayout]:
    inv_path = tmp_path / "inventory.yaml"
    text = CASE.read_text().replace("acme:\n", f"acme:\n  state_dir: {tmp_path / 'state'}\n", 1)
    inv_path.write_text(text)
    inv = load_inventory(inv_path, {})
    return inv, AcmeLayout(tmp_path / "state" / ca_folder(inv.acme.directory))  # type: ignore[union-attr]


def test_chain_key_and_stamp_are_swapped_in_together(tmp_path: Path) -> None:
    inv, where = _state_inventory(tmp_path)
    legacy_chain, legacy_key = _issued(tmp_path)
    write_private(where.chain(NAMES), legacy_chain)  # an older lbdeploy's real folder
    write_private(where.key(NAMES), legacy_key)
    chain, key = _issued(tmp_path)
    write_certificate(where, NAMES, chain, key, b"2026-06-01T03:17:00+00:00\n")
    link = where.cert_dir(NAMES)
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()
    assert where.chain(NAMES).read_bytes() == chain and where.key(NAMES).read_bytes() == key
    assert where.key(NAMES).stat().st_mode & 0o777 == 0o600
    assert link.resolve().stat().st_mode & 0o777 == 0o700
    again, again_key = _issued(tmp_path)
    write_certificate(where, NAMES, again, again_key, b"2026-07-01T03:17:00+00:00\n")
    # One version is left: the old ones (the legacy folder too) are gone.
    assert [p.name for p in link.parent.iterdir() if not p.is_symlink()] == [
        Path(os.readlink(link)).name
    ]
    assert list(read_issued(inv, tmp_path)) == [NAMES]


def test_a_key_that_does_not_match_its_certificate_makes_it_due(tmp_path: Path) -> None:
    inv, where = _state_inventory(tmp_path)
    chain, _ = _issued(tmp_path)
    _, other_key = _issued(tmp_path)
    write_certificate(where, NAMES, chain, other_key, b"2026-06-01T03:17:00+00:00\n")
    assert NAMES not in read_issued(inv, tmp_path)
    broken = unusable(inv, tmp_path)
    assert broken == {NAMES: "its key does not match the certificate"}
    whys = {d.names: d.why for d in due(inv, read_issued(inv, tmp_path), False, broken)}
    assert whys[NAMES] == "its key does not match the certificate"
    shop = next(s for s in acme_status(inv, tmp_path) if s.names == NAMES)
    assert shop.due == "its key does not match the certificate"
