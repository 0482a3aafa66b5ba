"""`renew` deploys what renewal changes and nothing else, whatever else differs."""

from __future__ import annotations

from pathlib import Path

from lbdeploy.components import units
from lbdeploy.components.tls import EXPIRY_METRIC, renewal_paths
from lbdeploy.core.acme import chain_and_key
from lbdeploy.core.desired import NodeState, PairState, derive
from lbdeploy.core.facts import Facts
from lbdeploy.core.parsers import ServiceFact
from lbdeploy.core.plan import make_plan, only_paths
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory
from tests.tlsutil import cert_pem, issue, key_pem, make_ca

NAMES = ("www.example.org", "example.org")
CASE = Path(__file__).parent / "data" / "render" / "acme" / "inventory.yaml"


def _renewed() -> tuple[PairState, NodeState]:
    ca = make_ca()
    cert, key = issue(ca, list(NAMES), days=80)
    pem = cert_pem(cert, ca[0]).encode()
    desired = derive(
        load_inventory(CASE, {}),
        CASE.parent,
        issued={NAMES: chain_and_key(pem, key_pem(key).encode(), Path("/state"))},
    )
    return desired.pair, desired.nodes[0]


def test_renewal_writes_the_renewed_certificates_and_the_expiry_metric_only() -> None:
    pair, _ = _renewed()
    shop = next(s for s in pair.acme_services if s.acme_names == NAMES)
    assert renewal_paths(pair, [NAMES]) == {shop.tls[0].path, EXPIRY_METRIC}
    assert renewal_paths(pair, []) == frozenset()


def test_a_narrow_plan_leaves_every_other_difference_alone() -> None:
    pair, node = _renewed()
    files = render_node(pair, node)
    # A node where everything differs (no file at all) and no unit runs: a full plan
    # would install, configure and start everything.
    facts = Facts(lock="acquired")
    for unit in units(pair):
        facts.services[unit] = ServiceFact("inactive", "disabled", 0)
    only = renewal_paths(pair, [NAMES])
    assert set(only_paths(files, only)) == only
    wide = make_plan(pair, node, files, facts)
    plan = make_plan(pair, node, files, facts, only=only)
    assert len({u.file.path for c in wide.changes for u in c.uploads}) > len(only)
    assert {u.file.path for c in plan.changes for u in c.uploads} == only
    assert not [c for c in plan.changes if c.commands_before or c.commands]
    # Only what the certificate asks (a stopped haproxy is reloaded, which starts it);
    # no other unit is started or enabled.
    assert [(a.service, a.action) for a in plan.services] == [("haproxy", "reload")]


def test_a_narrow_plan_runs_no_reload_another_unit_owes() -> None:
    pair, node = _renewed()
    files = render_node(pair, node)
    facts = Facts(lock="acquired", pending={"keepalived": "restart"})
    for unit in units(pair):
        facts.services[unit] = ServiceFact("active", "enabled", 1)
    plan = make_plan(pair, node, files, facts, only=renewal_paths(pair, [NAMES]))
    assert [(a.service, a.action) for a in plan.services] == [("haproxy", "ssl-cert")]
    assert "keepalived" in units(pair)
