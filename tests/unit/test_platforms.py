"""What a node is, from its facts: OS, network stack, daemon versions; what is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lbdeploy.components import facts_request, haproxy, keepalived
from lbdeploy.components.network import NETPLAN_CHECK, netplan_file
from lbdeploy.core.desired import derive
from lbdeploy.core.facts import facts_script, parse_facts
from lbdeploy.core.plan import make_plan
from lbdeploy.core.platforms import (
    Platform,
    detect,
    network_stack,
    problems,
    version,
)
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

DAEMONS = (haproxy.DAEMON, keepalived.DAEMON)
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("signals", "stack"),
    [
        ({"apt-get": "yes", "ifup": "yes", "networkd": "inactive"}, "ifupdown"),
        ({"netplan": "yes", "networkd": "active"}, "netplan"),
        ({"netplan": "yes", "networkd": "active", "ifup": "yes"}, "netplan"),
        ({"netplan": "yes", "networkd": "inactive", "ifup": "yes"}, "ifupdown"),
        ({"netplan": "yes", "netplan_nm": "yes", "networkmanager": "active"}, "networkmanager"),
        ({"networkmanager": "active"}, "networkmanager"),
        ({}, "unknown"),
    ],
)
def test_the_stack_that_manages_the_interface_is_recognised(signals: dict, stack: str) -> None:
    assert network_stack(signals) == stack


def test_versions_read_like_debian_writes_them() -> None:
    assert version("1:2.2.7-1+b2") == (2, 2, 7)
    assert version("3.0.11-1+deb13u4") == (3, 0, 11)
    assert version(None) is None and version("") is None
    assert haproxy.DAEMON.floor == (2, 2) and keepalived.DAEMON.floor == (2, 1)


def test_unsupported_nodes_are_refused_naming_the_stack_and_what_to_do() -> None:
    nm = Platform("ubuntu", "24.04", "networkmanager")
    [message] = problems(nm, DAEMONS, "eth1", "10.0.0.11/24", manage=True)
    assert message.startswith("NetworkManager manages the network here")
    assert "nmcli connection add type ethernet ifname eth1" in message
    assert "interface: {manage: false}" in message
    assert problems(nm, DAEMONS, "eth1", "10.0.0.11/24", manage=False) == []
    assert "no apt-get" in problems(Platform(apt=False), DAEMONS, "eth1", "x", True)[0]
    old = problems(Platform("ubuntu", "20.04", "netplan"), DAEMONS, "eth1", "x", True)
    assert old == [
        "HAProxy 2.0.33 on ubuntu 20.04 is older than 2.2, the oldest lbdeploy's configs are"
        " written for",
        "keepalived 2.0.19 on ubuntu 20.04 is older than 2.1, the oldest lbdeploy's configs are"
        " written for",
    ]
    assert problems(Platform("debian", "13", "netplan"), DAEMONS, "eth1", "x", True) == []
    installed = {"haproxy": "3.2.1-1", "keepalived": "1:2.3.4-1"}
    unknown = Platform("debian", "14", "ifupdown", installed=installed)
    assert problems(unknown, DAEMONS, "eth1", "x", True) == []
    assert "haproxy 3.2.1-1" in unknown.describe(DAEMONS)


def test_facts_say_what_the_node_is() -> None:
    raw = (DATA / "facts" / "converged-hera.txt").read_text()
    # systemd-networkd's state comes from the services section's one systemctl.
    raw = raw.replace("systemd-networkd inactive disabled 0", "systemd-networkd active enabled 90")
    raw += "@@lbdeploy platform\napt-get=yes\nnetplan=yes\n"
    facts = parse_facts(raw)
    platform = detect(facts.os, facts.signals, facts.packages)
    assert (platform.os_id, platform.os_version, platform.stack) == ("debian", "12", "netplan")
    assert platform.installed["haproxy"].startswith("2.6.")


def test_a_netplan_node_gets_a_netplan_file_applied_to_its_interface_alone() -> None:
    desired = derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA)
    pair, node = desired.pair, desired.nodes[0]
    files = render_node(pair, node, Platform("debian", "13", "netplan"))
    path = netplan_file("eth1")
    assert "/etc/network/interfaces.d/lbdeploy-eth1" not in files
    netplan = files[path]
    assert netplan.mode == 0o600 and netplan.validate is NETPLAN_CHECK
    assert "addresses: [172.29.150.11/24]" in netplan.content
    assert "critical: true" in netplan.content
    facts = parse_facts((DATA / "facts" / "fresh-hera.txt").read_text())
    plan = make_plan(pair, node, files, facts, Platform(stack="netplan"))
    network = plan.changes[0]
    assert network.step == "network"
    assert network.why == f"write {path}; apply it to eth1 alone (networkctl reconfigure eth1)"
    [apply] = network.commands
    assert apply.text().startswith(
        "netplan generate && networkctl reload && networkctl reconfigure eth1"
    )
    assert "ifup" not in apply.text() and "netplan apply" not in apply.text()


@pytest.mark.parametrize(("answer", "served"), [("yes", True), ("no", False), (None, True)])
def test_haproxy_probes_its_exporter_and_its_config_follows_the_answer(
    answer: str | None, served: bool
) -> None:
    """`haproxy -vv` is haproxy's probe, in the platform section; a build without the
    exporter gets no /metrics, an unknown one (nothing installed yet) asks for it."""
    desired = derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA)
    pair, node = desired.pair, desired.nodes[0]
    script = facts_script(facts_request(pair), None).text()
    platform_part = script[script.index("@@lbdeploy platform") : script.index("@@lbdeploy pending")]
    assert "haproxy -vv" in platform_part
    raw = "@@lbdeploy platform\napt-get=yes\n" + (f"promex={answer}\n" if answer else "")
    facts = parse_facts(raw)
    platform = detect(facts.os, facts.signals, facts.packages)
    assert haproxy.has_promex(platform) is {"yes": True, "no": False}.get(answer or "")
    cfg = render_node(pair, node, platform)[haproxy.HAPROXY_CFG].content
    assert ("prometheus-exporter" in cfg) is served


def test_a_pair_without_metrics_never_runs_haproxy_vv() -> None:
    desired = derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA)
    pair = replace(desired.pair, stats=None)
    assert "haproxy -vv" not in facts_script(facts_request(pair), None).text()
