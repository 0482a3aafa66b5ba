"""Change scripts: valid sh, validate before moving, secrets only inside here-documents."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lbdeploy.components.services import services_script
from lbdeploy.core.change_scripts import change_script
from lbdeploy.core.desired import derive
from lbdeploy.core.facts import parse_facts
from lbdeploy.core.paths import staged as staged_path
from lbdeploy.core.plan import make_plan
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

DATA = Path(__file__).parent / "data"


def fresh_plan():  # type: ignore[no-untyped-def]
    inv = load_inventory(DATA / "render" / "lab" / "inventory.yaml", {})
    desired = derive(inv, DATA)
    pair, state = desired.pair, desired.nodes[0]
    facts = parse_facts((DATA / "facts" / "fresh-hera.txt").read_text())
    return pair, make_plan(pair, state, render_node(pair, state), facts)


def test_every_script_is_valid_sh() -> None:
    pair, plan = fresh_plan()
    scripts = [change_script(c).text() for c in plan.changes]
    scripts.append(services_script(pair, plan.services).text())
    for script in scripts:
        result = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
        assert result.returncode == 0, result.stderr + script


def test_configs_are_all_validated_before_any_is_moved() -> None:
    configs = next(c for c in fresh_plan()[1].changes if c.step == "configs")
    script = change_script(configs).text()
    haproxy_check = script.index("haproxy -c -f /etc/haproxy/.haproxy.cfg.lbdeploy-new")
    keepalived_check = script.index(
        "keepalived -t -f /etc/keepalived/.keepalived.conf.lbdeploy-new.test"
    )
    first_move = script.index("mv -f")
    assert haproxy_check < keepalived_check < first_move
    backup = script.index("cp -p /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.lbdeploy-bak")
    move = script.index("mv -f /etc/haproxy/.haproxy.cfg.lbdeploy-new /etc/haproxy/haproxy.cfg")
    assert first_move < backup < move
    assert staged_path("/etc/haproxy/haproxy.cfg") == "/etc/haproxy/.haproxy.cfg.lbdeploy-new"
    assert "script_user root" in script  # the test copy only
    assert "chmod 0640 /etc/keepalived/.keepalived.conf.lbdeploy-new" in script


def test_secrets_appear_only_inside_here_documents() -> None:
    configs = next(c for c in fresh_plan()[1].changes if c.step == "configs")
    script = change_script(configs).text()
    inside = False
    for line in script.splitlines():
        if line.startswith("cat > ") and "<<'LBDEPLOY_EOF_" in line:
            inside, delimiter = True, line.split("<<'")[1].rstrip("'")
            continue
        if inside and line == delimiter:
            inside = False
            continue
        if not inside:
            assert "lab-vrrp" not in line and "lab-stats" not in line, line
    assert "auth_pass lab-vrrp" in script


def test_a_failure_on_the_left_of_and_stops_the_script() -> None:
    """`set -e` alone would let `false && true` pass and run the next line."""
    from lbdeploy.core.steps import Change
    from lbdeploy.scripts.shell import join, sh

    change = Change(
        step="x",
        why="y",
        commands=(join([sh("false"), sh("true")]), sh("echo", "reached")),
    )
    result = subprocess.run(
        ["sh"], input=change_script(change).text(), text=True, capture_output=True
    )
    assert result.returncode == 1 and "reached" not in result.stdout
    ok = Change(step="x", why="y", commands=(join([sh("true"), sh("true")]), sh("echo", "reached")))
    result = subprocess.run(["sh"], input=change_script(ok).text(), text=True, capture_output=True)
    assert result.returncode == 0 and result.stdout == "reached\n"
