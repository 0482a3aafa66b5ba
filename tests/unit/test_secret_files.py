"""A managed file marked secret (a PEM private key) never shows its content.

Not in `--check --diff`, not in drift, not in the JSON report, not in the recap, not in
the change script as shown to a human: only a fingerprint and a size.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console

from lbdeploy.cli.display import print_recap
from lbdeploy.core.change_scripts import change_script
from lbdeploy.core.desired import derive
from lbdeploy.core.facts import parse_facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.plan import make_plan
from lbdeploy.core.render import render_node
from lbdeploy.core.report import NodeReport, Report, StepResult
from lbdeploy.core.steps import Change, Upload
from lbdeploy.inventory import load_inventory
from lbdeploy.ops.up import file_diffs

DATA = Path(__file__).parent / "data"
KEY_PATH = "/etc/haproxy/certs/example.org.key"


def private_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_a_secret_file_shows_only_its_fingerprint_everywhere() -> None:
    desired = derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA)
    pair, node = desired.pair, desired.nodes[0]
    pem = private_key()
    key = ManagedFile(KEY_PATH, pem, 0o600, secret=True)
    files = {**render_node(pair, node), KEY_PATH: key}
    # The node has an older key that lbdeploy wrote, then someone edited it: drift.
    old_sha, edited_sha = "a" * 64, "b" * 64
    raw = (DATA / "facts" / "fresh-hera.txt").read_text()
    raw = raw.replace(
        "@@lbdeploy files\n", f"@@lbdeploy files\n{edited_sha} 600 root root {KEY_PATH}\n"
    )
    raw = raw.replace("@@lbdeploy applied\n", f"@@lbdeploy applied\n{old_sha}  {KEY_PATH}\n")
    facts = parse_facts(raw)
    plan = make_plan(pair, node, files, facts)
    assert KEY_PATH in plan.drift
    assert any(f.path == KEY_PATH for c in plan.changes for f in c.changed_files)

    # --check --diff: the key's live text is never even fetched, so `live` has none.
    diffs = file_diffs(node.name, plan, facts, live={})
    assert diffs[KEY_PATH] == (
        f"--- hera:{KEY_PATH}: secret file, sha256:{edited_sha[:16]} -> {key.fingerprint}\n"
    )
    report = Report("up --check", {node.name: NodeReport(node.name)})
    node_report = report.nodes[node.name]
    node_report.diffs, node_report.drift = diffs, list(plan.drift)
    for change in plan.changes:
        node_report.steps.append(StepResult(change.step, "would change", change.why))
    console = Console(record=True, width=200)
    print_recap(console, report, stats=True)
    for text in diffs.values():
        console.print(text, markup=False)
    scripts = [change_script(c).shown() for c in plan.changes]
    outputs = [json.dumps(report.to_json()), console.export_text(), *scripts]
    for output in outputs:
        for line in key_body_lines(pem):
            assert line not in output
        assert "PRIVATE KEY-----" not in output
    # ... while the script that runs on the node does carry the key, in a here-document.
    assert any(pem in change_script(c).text() for c in plan.changes)
    assert key.fingerprint in diffs[KEY_PATH] and f"({len(pem)} bytes)" in key.fingerprint


def test_a_showable_config_masks_the_passwords_it_holds() -> None:
    env = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}
    desired = derive(load_inventory(DATA / "render" / "classic" / "inventory.yaml", env), DATA)
    files = render_node(desired.pair, desired.nodes[0])
    conf = files["/etc/keepalived/keepalived.conf"]
    diff = conf.diff("hera:k", "", None)
    assert "+        auth_pass ***" in diff and "vrrp-pw" not in diff
    assert "vrrp-pw" not in change_script_shown(conf)


def change_script_shown(file: ManagedFile) -> str:
    from lbdeploy.core.steps import Change, Upload

    return change_script(Change("configs", "x", uploads=(Upload(file),))).shown()


def test_an_exporters_web_config_shows_neither_hash_nor_password() -> None:
    from lbdeploy.components.exporters import NODE_EXPORTER

    env = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}
    case = DATA / "render" / "exporters"
    desired = derive(load_inventory(case / "inventory.yaml", env), case)
    web = render_node(desired.pair, desired.nodes[0])[NODE_EXPORTER.web_config]
    shown = [web.shown(), web.diff("hera:w", "old", "c" * 64), change_script_shown(web)]
    for output in shown:
        assert "$2b$" not in output and "stats-pw" not in output
    assert web.fingerprint in web.diff("hera:w", None, None)
    # The exporter reads it as its group: its directory is not made root-only (the lab
    # found node_exporter failing with "permission denied" when it was).
    script = change_script(Change("configs", "x", uploads=(Upload(web),))).text()
    assert "chmod 0700 /etc/prometheus" not in script
    key = next(f for f in render_node(desired.pair, desired.nodes[0]).values() if f.mode == 0o600)
    key_dir = key.path.rpartition("/")[0]
    assert (
        f"chmod 0700 {key_dir}"
        in change_script(Change("configs", "x", uploads=(Upload(key),))).text()
    )
