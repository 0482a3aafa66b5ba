"""Never downgrade: what the nodes serve against this machine's ACME state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lbdeploy.components.tls import sha1
from lbdeploy.core.acme_live import LocalState, PlaceholderFile, downgrades, served
from lbdeploy.core.desired import derive
from lbdeploy.core.facts import Facts
from lbdeploy.core.health import LoadedCert, NodeStatus
from lbdeploy.core.parsers import FileFact
from lbdeploy.core.render import render_node
from lbdeploy.errors import AcmeStateMissing
from lbdeploy.inventory import load_inventory
from lbdeploy.ops.acme_status import AcmeStatus, with_served
from lbdeploy.ops.handshake import check_service
from lbdeploy.ops.up import _refuse_downgrades

NAMES = ("www.example.org", "example.org")
CASE = Path(__file__).parent / "data" / "render" / "acme" / "inventory.yaml"
FILE = PlaceholderFile(NAMES, "/etc/haproxy/certs/shop-0.pem", "p" * 64)


def test_a_node_without_the_file_or_with_the_placeholder_may_get_the_placeholder() -> None:
    live = {"hera": {}, "afrodita": {FILE.path: FILE.sha256}}
    assert downgrades((FILE,), live, LocalState("/home/ops/.local/state/lbdeploy/acme/ca")) == []


def test_a_real_certificate_on_a_node_is_never_replaced_by_the_placeholder() -> None:
    live = {"hera": {FILE.path: "r" * 64}, "afrodita": {}}
    (said,) = downgrades((FILE,), live, LocalState("/state/ca"))
    assert said.startswith(
        "ACME state for www.example.org, example.org is not on this machine (state_dir"
        " /state/ca), but hera serves a certificate at /etc/haproxy/certs/shop-0.pem"
    )
    assert "lbdeploy renew --force" in said and "copy the state directory" in said


def _loaded(sha: str, days: int) -> LoadedCert:
    when = datetime.now(UTC) + timedelta(days=days)
    return LoadedCert(sha, when.strftime("%b %d %H:%M:%S %Y GMT"))


def test_served_sorts_placeholder_from_real_and_finds_the_soonest_expiry() -> None:
    seen = served("ab", {"a": _loaded("AB", 99), "b": _loaded("CD", 40), "c": None})
    assert seen.placeholder and [c.sha1 for c in seen.real] == ["CD"]
    assert seen.soonest is not None and seen.soonest.sha1 == "CD"
    assert not served("ab", {"a": _loaded("AB", 99)}).real


def _desired() -> Any:
    return derive(load_inventory(CASE, {}), CASE.parent)  # nothing issued: placeholders


def _runs(live_sha: str | None) -> Any:
    desired = _desired()
    node = desired.nodes[0]
    files = render_node(desired.pair, node)
    shop = desired.pair.acme_services[0].tls[0].path
    facts = Facts(lock="acquired")
    if live_sha is not None:
        sha = files[shop].sha256 if live_sha == "placeholder" else live_sha
        facts.files[shop] = cast(FileFact, SimpleNamespace(sha256=sha))
    run = SimpleNamespace(name=node.name, files=files, facts=facts)
    return desired.pair, SimpleNamespace(ready=[run])


@pytest.mark.parametrize("live", [None, "placeholder"])
def test_up_deploys_the_placeholder_where_none_or_the_placeholder_is(live: str | None) -> None:
    pair, runs = _runs(live)
    _refuse_downgrades(pair, runs, LocalState("/state"))


def test_up_refuses_before_any_change_where_a_real_certificate_is_live() -> None:
    pair, runs = _runs("0" * 64)
    with pytest.raises(AcmeStateMissing, match="is not on this machine \\(state_dir /state\\)"):
        _refuse_downgrades(pair, runs, LocalState("/state"))


def test_verify_judges_what_the_nodes_serve_when_this_machine_has_no_state() -> None:
    desired = _desired()
    shop = desired.pair.acme_services[0]
    path = shop.tls[0].path
    real = NodeStatus("hera", certs={path: _loaded("0" * 40, 60)})
    cert = AcmeStatus(NAMES, None, "", "not issued yet", "/state/ca")
    (elsewhere,) = with_served([cert], desired.pair, [real])
    assert elsewhere.held_elsewhere and elsewhere.problem is None
    assert "not in this machine's ACME state (/state/ca)" in elsewhere.line()
    assert elsewhere.to_json()["due"] is None and elsewhere.to_json()["held_here"] is False
    assert check_service(shop, real.certs) == []  # not compared with the placeholder
    soon = {path: _loaded("0" * 40, 3)}
    (problem,) = check_service(shop, soon)
    assert "the certificate the nodes serve expires in 2 days" in problem  # 3 days less a second

    placeholder = NodeStatus("hera", certs={path: LoadedCert(sha1(shop.tls[0]), "")})
    (still,) = with_served([cert], desired.pair, [placeholder])
    assert not still.held_elsewhere
    assert still.problem is not None and "a placeholder serves" in still.problem


def test_an_unusable_local_certificate_is_named_as_such() -> None:
    local = LocalState("/state/ca", {NAMES: "its key does not match the certificate"})
    (said,) = downgrades((FILE,), {"hera": {FILE.path: "r" * 64}}, local)
    assert said.startswith(
        "ACME state for www.example.org, example.org is unusable on this machine (its key"
        " does not match the certificate) (state_dir /state/ca)"
    )
