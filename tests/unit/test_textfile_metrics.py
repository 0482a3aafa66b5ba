"""The metrics lbdeploy's handlers write for node_exporter's textfile collector
(docs/metrics.md), run unprivileged against directories of the test's own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from lbdeploy.components.notify import ALERTS_FILE, ANYCAST_NOTIFY, NOTIFY_SCRIPT, WITHDRAWN
from lbdeploy.components.tls import EXPIRY_METRIC
from lbdeploy.core.desired import TlsBundle, derive
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

RENDER = Path(__file__).parent / "data" / "render"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw", "LB_BGP_PASS": "bgp-md5-pw"}
SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")


def _files(case: str) -> dict[str, str]:
    desired = derive(load_inventory(RENDER / case / "inventory.yaml", ENV), RENDER / case)
    return {p: f.content for p, f in render_node(desired.pair, desired.nodes[0]).items()}


def _samples(text: str) -> dict[tuple[str, str], str]:
    """`name{labels} value` lines as {(name, labels): value}."""
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            found[(match.group(1), match.group(2))] = match.group(3)
    return found


class Node:
    """A handler's script with its fixed paths moved under the test's directory."""

    def __init__(self, tmp: Path, script: str) -> None:
        self.textfiles, self.own, self.run = tmp / "textfiles", tmp / "own", tmp / "run"
        self.bin, self.etc = tmp / "bin", tmp / "etc"
        for folder in (self.textfiles, self.own, self.bin, self.etc):
            folder.mkdir(exist_ok=True)
        for tool, body in (("logger", "exit 0"), ("curl", "exit 22"), ("timeout", 'shift; "$@"')):
            (self.bin / tool).write_text(f"#!/bin/sh\n{body}\n")
            (self.bin / tool).chmod(0o755)
        self.script = (
            script.replace("/var/lib/prometheus/node-exporter", str(self.textfiles))
            .replace("/run/lbdeploy-vrrp", str(self.run))
            .replace("/var/lib/lbdeploy", str(self.own))
            .replace("/etc/keepalived/lbdeploy-standby", str(self.etc / "standby"))
            .replace(ALERTS_FILE, str(self.etc / "alerts"))
            # No systemd here: a post runs as a background child (never a unit of the
            # machine running the tests), the handler itself from its file.
            .replace("/run/systemd/system", str(tmp / "no-systemd"))
            .replace(NOTIFY_SCRIPT, str(self.bin / "vrrp-notify"))
        )
        (self.bin / "vrrp-notify").write_text(self.script)
        (self.bin / "vrrp-notify").chmod(0o755)

    def call(self, *args: str) -> None:
        env = {"PATH": f"{self.bin}:/usr/bin:/bin"}
        done = subprocess.run(
            ["sh", "-s", *args],
            input=self.script,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr

    def metric(self, name: str) -> dict[tuple[str, str], str]:
        return _samples((self.textfiles / name).read_text())


LABELS = 'node="hera",vrrp_instance="VI_50",vip="172.29.150.150"'


def _notify(tmp: Path) -> Node:
    return Node(tmp, _files("lab")[NOTIFY_SCRIPT])


def test_vrrp_state_names_node_instance_and_vip_and_counts_becoming_master(
    tmp_path: Path,
) -> None:
    node = _notify(tmp_path)
    for state in ("BACKUP", "MASTER", "FAULT", "MASTER"):
        node.call("172.29.150.150", "INSTANCE", "VI_50", state, "100")
    assert node.metric("lbdeploy-VI_50.prom") == {
        ("lbdeploy_vrrp_state", LABELS): "2",
        ("lbdeploy_vrrp_master_transitions_total", LABELS): "2",
        ("lbdeploy_vrrp_standby", LABELS): "0",
    }


def test_a_fault_on_standby_says_so(tmp_path: Path) -> None:
    node = _notify(tmp_path)
    (node.etc / "standby").write_text("1\n")
    node.call("172.29.150.150", "INSTANCE", "VI_50", "FAULT", "100")
    samples = node.metric("lbdeploy-VI_50.prom")
    assert samples[("lbdeploy_vrrp_state", LABELS)] == "3"
    assert samples[("lbdeploy_vrrp_standby", LABELS)] == "1"


def test_a_webhook_that_fails_is_counted(tmp_path: Path) -> None:
    node = _notify(tmp_path)
    (node.etc / "alerts").write_text('url = "http://127.0.0.1:9/alerts"\n')
    for state in ("MASTER", "BACKUP"):
        node.call("172.29.150.150", "INSTANCE", "VI_50", state, "100")
        _wait_for(node.textfiles / "lbdeploy-notify.prom", state == "BACKUP")
    samples = node.metric("lbdeploy-notify.prom")
    assert samples[("lbdeploy_notify_failures_total", 'node="hera"')] == "2"
    assert int(samples[("lbdeploy_notify_last_failure_timestamp_seconds", 'node="hera"')]) > 0


def _wait_for(path: Path, second: bool) -> None:
    """The delivery runs in the background: wait (bounded) for its count."""
    import time

    want = "} 2" if second else "} 1"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and want in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never said {want}")


def test_no_webhook_no_failure_metric(tmp_path: Path) -> None:
    node = _notify(tmp_path)
    node.call("172.29.150.150", "INSTANCE", "VI_50", "MASTER", "100")
    assert sorted(p.name for p in node.textfiles.iterdir()) == ["lbdeploy-VI_50.prom"]


def test_a_link_to_a_directory_under_the_final_name_is_replaced_not_entered(
    tmp_path: Path,
) -> None:
    """`mv` into a link to a directory would move the file into that directory: -T."""
    node = _notify(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (node.textfiles / "lbdeploy-VI_50.prom").symlink_to(elsewhere)
    node.call("172.29.150.150", "INSTANCE", "VI_50", "MASTER", "100")
    assert list(elsewhere.iterdir()) == []
    assert not (node.textfiles / "lbdeploy-VI_50.prom").is_symlink()


def _anycast(announced: str, held_out: str) -> dict[tuple[str, str], str]:
    return {
        ("lbdeploy_anycast_announced", 'node="hera",vip="203.0.113.80"'): announced,
        ("lbdeploy_anycast_held_out", 'node="hera"'): held_out,
    }


def test_the_anycast_gate_says_announced_and_withdrawn(tmp_path: Path) -> None:
    node = Node(tmp_path, _files("mixed")[ANYCAST_NOTIFY])
    node.call("announced", "gate")
    assert node.metric("lbdeploy-anycast.prom") == _anycast("1", "0")
    node.call("withdrawn", "gate")
    assert node.metric("lbdeploy-anycast.prom") == _anycast("0", "0")


def test_a_planned_withdrawal_says_held_out_until_back(tmp_path: Path) -> None:
    """`lbdeploy withdraw` sets the flag, then runs the handler; `--back` the reverse."""
    script = _files("mixed")[ANYCAST_NOTIFY].replace(WITHDRAWN, str(tmp_path / "withdrawn"))
    node = Node(tmp_path, script)
    (tmp_path / "withdrawn").touch()
    node.call("withdrawn", "withdraw")
    assert node.metric("lbdeploy-anycast.prom") == _anycast("0", "1")
    node.call("announced", "gate")  # HAProxy back while held out: still out
    assert node.metric("lbdeploy-anycast.prom") == _anycast("0", "1")
    (tmp_path / "withdrawn").unlink()
    node.call("announced", "withdraw")
    assert node.metric("lbdeploy-anycast.prom") == _anycast("1", "0")


def test_certificate_expiry_is_each_leafs_not_after() -> None:
    from lbdeploy.core.desired import derive as derive_again

    case = RENDER / "https_own_port"
    desired = derive_again(load_inventory(case / "inventory.yaml", ENV), case)
    samples = _samples(_files("https_own_port")[EXPIRY_METRIC])
    assert len(samples) == len(desired.pair.bundles) == 3
    for bundle in desired.pair.bundles:
        labels = f'node="hera",path="{bundle.path}",names="{",".join(bundle.chain.names)}"'
        value = samples[("lbdeploy_certificate_expiry_timestamp_seconds", labels + _FILES)]
        assert int(value) == int(bundle.chain.not_after.timestamp())


_FILES, _ACME = ',source="files"', ',source="acme"'


def test_an_acme_placeholder_has_no_expiry_but_says_it_serves() -> None:
    """Its notAfter (2125) would keep the expiry alert quiet for a century."""
    from dataclasses import replace

    from lbdeploy.components.tls import expiry_metric

    case = RENDER / "acme"
    pair = derive(load_inventory(case / "inventory.yaml", ENV), case).pair
    shop, api = (s.tls[0] for s in pair.acme_services)
    placeholders = _samples(expiry_metric(pair, "hera"))
    assert placeholders == {
        ("lbdeploy_certificate_placeholder", _labels(b)): "1" for b in (shop, api)
    }
    # Once the CA issued (here: a files certificate standing in for it).
    other = RENDER / "https_own_port"
    issued = derive(load_inventory(other / "inventory.yaml", ENV), other).pair.bundles[0]
    services = tuple(
        replace(s, tls=(replace(s.tls[0], chain=issued.chain),)) if s.tls[0] == shop else s
        for s in pair.services
    )
    samples = _samples(expiry_metric(replace(pair, services=services), "hera"))
    shop_labels = _labels(replace(shop, chain=issued.chain))
    assert samples == {
        ("lbdeploy_certificate_expiry_timestamp_seconds", shop_labels + _ACME): str(
            int(issued.chain.not_after.timestamp())
        ),
        ("lbdeploy_certificate_placeholder", shop_labels): "0",
        ("lbdeploy_certificate_placeholder", _labels(api)): "1",
    }


def _labels(bundle: TlsBundle) -> str:
    return f'node="hera",path="{bundle.path}",names="{",".join(bundle.chain.names)}"'


def _packages(case: str, extra: str, edit: tuple[str, str] = ("", "")) -> list[str]:
    from lbdeploy.components import facts_request
    from lbdeploy.inventory.load import parse_inventory

    text = (RENDER / case / "inventory.yaml").read_text().replace(*edit)
    inv = parse_inventory(extra + text, "inventory.yaml", ENV, base=RENDER / case)
    return facts_request(derive(inv, RENDER / case).pair).packages


def test_exporters_come_only_when_asked_and_frrs_only_on_anycast() -> None:
    stats = "stats: {user: admin, password: {env: LB_STATS_PASS}}\n"
    asked = stats.replace("}}", "}, exporters: true}")
    default = _packages("mixed", stats)  # stats, metrics on: still no exporter daemon
    assert "prometheus-node-exporter" not in default
    assert "prometheus-frr-exporter" not in default
    with_exporters = _packages("mixed", asked)
    assert "prometheus-node-exporter" in with_exporters
    assert "prometheus-frr-exporter" in with_exporters
    assert "prometheus-node-exporter" not in _packages("mixed", "")
    vrrp_only = _packages("lab", "", ("lab-stats}", "lab-stats, exporters: true}"))
    assert "prometheus-node-exporter" in vrrp_only
    assert "prometheus-frr-exporter" not in vrrp_only
