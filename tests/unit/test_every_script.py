"""Every remote script the code can produce is valid sh, and no value reaches it unquoted.

Scripts are rendered for the lab inventory, the rich one, and a hostile one whose raw
options hold quotes, spaces and a command substitution; lock holders and file paths
get the same treatment. A small shell lexer then proves that the hostile marker only
ever stands inside single quotes or a quoted here-document, where sh expands nothing.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lbdeploy.components import acme, facts_request, frr_runtime, haproxy_runtime, keepalived
from lbdeploy.components.services import services_script
from lbdeploy.core import change_scripts as changes
from lbdeploy.core.acme import Challenge
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import facts_script, parse_facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.plan import ServiceAction, make_plan
from lbdeploy.core.platforms import Platform
from lbdeploy.core.render import render_node
from lbdeploy.core.serving import serving_script
from lbdeploy.core.steps import Change, Upload
from lbdeploy.inventory import load_inventory
from lbdeploy.inventory.load import parse_inventory
from lbdeploy.ops import drain as servers
from lbdeploy.ops import events, failover, status
from lbdeploy.ops import switchover as operate
from lbdeploy.ops import up as execute
from lbdeploy.remote import locks
from lbdeploy.scripts.script import Script
from lbdeploy.scripts.shell import cmd

DATA = Path(__file__).parent / "data"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw", "LB_BGP_PASS": "bgp-pw"}
MARK = "touch /tmp/lbdeploy-PWNED"
HOSTILE = f'it\'s "a b" $({MARK}) `{MARK}` ; {MARK} \\'
FACTS = ["fresh-hera.txt", "converged-hera.txt"]


def hostile_inventory() -> Desired:
    """The lab inventory with raw HAProxy options full of shell syntax (legal for the model)."""
    text = (DATA / "render" / "lab" / "inventory.yaml").read_text()
    # Valid HAProxy (single quotes are literal there), hostile to any shell.
    header = f"'$({MARK}); \"a b\" `{MARK}`'"
    quoted = ("http-request set-header X-Evil " + header).replace("'", "''")
    option = f"    options:\n      - '{quoted}'\n"
    text = text.replace("    health_check: /\n", "    health_check: /\n" + option)
    return derive(parse_inventory(text, "hostile.yaml", ENV), DATA)


def desired_cases() -> dict[str, Desired]:
    return {
        "lab": derive(load_inventory(DATA / "render" / "lab" / "inventory.yaml", {}), DATA),
        "rich": derive(load_inventory(DATA / "render" / "rich" / "inventory.yaml", ENV), DATA),
        "hostile": hostile_inventory(),
        "dualstack": derive(
            load_inventory(DATA / "render" / "dualstack" / "inventory.yaml", ENV), DATA
        ),
        "ipv6only": derive(
            load_inventory(DATA / "render" / "ipv6only" / "inventory.yaml", ENV), DATA
        ),
        "acme": derive(load_inventory(DATA / "render" / "acme" / "inventory.yaml", {}), DATA),
        "anycast": derive(
            load_inventory(DATA / "render" / "anycast" / "inventory.yaml", ENV), DATA
        ),
        "mixed": derive(load_inventory(DATA / "render" / "mixed" / "inventory.yaml", ENV), DATA),
    }


def weird_file(path: str) -> ManagedFile:
    return ManagedFile(path, f"content {HOSTILE}\n", 0o600, secret=True)


def every_script(desired: Desired) -> Iterator[tuple[str, Script]]:
    """Each script builder of the code base, with the values this inventory gives it."""
    pair = desired.pair
    targets = pair.probe_targets
    request = facts_request(pair)
    for node in desired.nodes:
        files = render_node(pair, node)
        odd_paths = replace(request, paths=[*files, f"/etc/odd dir/{HOSTILE}"])
        yield "facts", facts_script(odd_paths, HOSTILE, status.status_lines(pair))
        yield "facts-nolock", facts_script(odd_paths, None)
        netplan = render_node(pair, node, Platform("debian", "13", "netplan"))
        for name in FACTS:
            facts = parse_facts((DATA / "facts" / name).read_text())
            for change in make_plan(pair, node, files, facts).changes:
                yield f"change-{change.step}", changes.change_script(change)
            for change in make_plan(
                pair, node, netplan, facts, Platform("debian", "13", "netplan")
            ).changes:
                yield f"netplan-{change.step}", changes.change_script(change)
        odd = weird_file(f"/etc/odd dir/{HOSTILE}")
        yield "change-odd", changes.change_script(Change("odd", "odd", uploads=(Upload(odd),)))
        mode_only = Upload(odd, content_changed=False)
        yield "change-mode", changes.change_script(Change("odd", "odd", uploads=(mode_only,)))
    yield "serving", serving_script(targets)
    actions = tuple(
        ServiceAction(svc, action, enable, "why")  # type: ignore[arg-type]
        for svc in ("haproxy", "keepalived", "frr")
        for action in ("reload", "restart", "start", "enable")
        for enable in (True, False)
    )
    yield "services", services_script(pair, actions)
    yield "takeover", locks.takeover_script(HOSTILE, HOSTILE + "2")
    yield "release", locks.release_script(HOSTILE, journal=HOSTILE)
    yield "drain", servers.state_script("web", "web1", "drain")
    yield "sessions", servers.sessions_script("web", "web1")
    yield "events", events.events_script("10m")
    yield "ssl-cert", Script().run(haproxy_runtime.ssl_cert_update(("/etc/haproxy/certs/a b.pem",)))
    yield "unlock", locks.unlock_script()
    yield "restart", operate.restart_script("restart", ("haproxy", "keepalived"))
    yield "standby", keepalived.standby_script(True)
    for crash in (True, False):
        breakage = failover.fault(crash)
        yield "break", breakage.break_it
        yield "mend", breakage.mend_it
    if pair.anycast is not None:
        for node in desired.nodes:
            yield "advertised", frr_runtime.advertised_lines(pair.anycast, node.name)
            for present in (True, False):
                vip = pair.anycast.vips[-1]
                watch = frr_runtime.watch_lines(pair.anycast, node.name, vip, present, 30)
                yield "watch", Script().line(frr_runtime.started()).extend(watch)
        yield "connections", frr_runtime.connections_lines(pair.anycast.vips)
        for withdraw in (True, False):
            yield "announcements", frr_runtime.announcement_lines(withdraw)
    yield "diff", execute.live_text_script(["/etc/haproxy/haproxy.cfg", f"/x/{HOSTILE}"])
    tokens = (Challenge("www.example.org", "T" * 43, "T" * 43 + "." + "k" * 43),)
    vips = tuple(v for s in pair.services for v in s.vips)
    yield "acme-publish", acme.publish_lines(tokens).extend(acme.check_lines(tokens, vips))
    yield "acme-withdraw", acme.withdraw_lines(tokens)


def all_scripts() -> list[tuple[str, str]]:
    return [
        (f"{case}-{name}", script.text())
        for case, desired in desired_cases().items()
        for name, script in every_script(desired)
    ]


SCRIPTS = all_scripts()


def exposed(script: str, marker: str) -> list[int]:
    """Line numbers where `marker` stands outside single quotes and quoted here-documents."""
    found, state, heredoc, pending = [], "", None, None
    for number, line in enumerate(script.split("\n"), 1):
        if heredoc is not None:
            heredoc = None if line == heredoc else heredoc
            continue
        i = 0
        while i < len(line):
            ch = line[i]
            if state == "'":
                state = "" if ch == "'" else state
            elif ch == "\\":
                i += 1  # the next character is taken literally (outside single quotes)
            elif state == '"' and ch == '"':
                state = ""
            elif line.startswith(marker, i):
                found.append(number)
            elif state == "" and ch in "'\"":
                state = ch
            elif state == "" and (m := re.match(r"<<'(LBDEPLOY_EOF_\w+)'", line[i:])):
                pending = m.group(1)
            i += 1
        if state == "" and pending is not None:
            heredoc, pending = pending, None
    return found


@pytest.mark.parametrize(("name", "text"), SCRIPTS, ids=[n for n, _ in SCRIPTS])
def test_every_script_is_valid_sh(name: str, text: str) -> None:
    result = subprocess.run(["sh", "-n"], input=text, text=True, capture_output=True, check=False)
    assert result.returncode == 0, f"{name}: {result.stderr}\n{text}"
    assert text.startswith("{\nset -eu\n")  # the one preamble


@pytest.mark.parametrize(("name", "text"), SCRIPTS, ids=[n for n, _ in SCRIPTS])
def test_no_value_reaches_a_script_unquoted(name: str, text: str) -> None:
    assert exposed(text, MARK) == [], f"{name}:\n{text}"


def test_the_hostile_values_really_are_in_the_scripts() -> None:
    """A check that cannot fail proves nothing: the marker must be there, quoted."""
    with_marker = [name for name, text in SCRIPTS if MARK in text]
    assert any(n.startswith("hostile-change-configs") for n in with_marker)
    assert any(n.endswith("-takeover") for n in with_marker)
    assert any(n.endswith("-change-odd") for n in with_marker)


def test_the_lexer_sees_an_unquoted_value() -> None:
    assert exposed(f"echo {MARK}\n", MARK) == [1]
    assert exposed(f'echo "$({MARK})"\n', MARK) == [1]
    assert exposed(f"echo '{MARK}'\n", MARK) == []
    assert exposed(f"cat > f <<'LBDEPLOY_EOF_1'\n{MARK}\nLBDEPLOY_EOF_1\necho {MARK}\n", MARK) == [
        4
    ]


def test_a_secret_here_document_is_masked_when_shown() -> None:
    odd = replace(weird_file("/etc/x"), content="-----BEGIN PRIVATE KEY-----\nabc\n")
    script = changes.change_script(Change("odd", "odd", uploads=(Upload(odd),)))
    assert "BEGIN PRIVATE KEY" in script.text()
    assert "BEGIN PRIVATE KEY" not in script.shown()


def test_a_script_cut_short_runs_nothing() -> None:
    """A dropped connection may deliver part of a script: it must not run part of it."""
    text = Script().run(cmd("echo first")).run(cmd("echo second")).text()
    for cut in range(len(text)):
        result = subprocess.run(
            ["sh"], input=text[:cut], text=True, capture_output=True, check=False, timeout=10
        )
        assert result.stdout in ("", "first\nsecond\n"), (cut, text[:cut])  # all or nothing
    whole = subprocess.run(["sh"], input=text, text=True, capture_output=True, check=False)
    assert whole.stdout == "first\nsecond\n"
