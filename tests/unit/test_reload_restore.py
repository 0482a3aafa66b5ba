"""A reload that fails puts back only what this very run replaced (issue 21, finding 7).

The previous config is kept as `haproxy.cfg.lbdeploy-bak` only when this run moves a new
one into place; any other reload (owed by an earlier run, a change to
/etc/default/haproxy alone, a certificate fallback, a graceful restart) must leave the
live file alone and keep the reload owed, or it would restore the config of runs ago.
"""

from __future__ import annotations

from lbdeploy.components import haproxy_runtime
from lbdeploy.components.services import services_script
from lbdeploy.core.facts import parse_facts
from lbdeploy.core.plan import make_plan
from lbdeploy.core.render import render_node
from lbdeploy.ops.restart import _graceful_haproxy
from tests.unit.test_facts_and_plan import lab, lab_states, recorded

RESTORE = "cp -p /etc/haproxy/haproxy.cfg.lbdeploy-bak /etc/haproxy/haproxy.cfg"
OWE = "echo reload > /var/lib/lbdeploy/pending/haproxy"


def _services(replace: list[list[str]]) -> tuple[list[tuple[str, str, tuple[str, ...]]], str]:
    pair, state = lab().pair, lab_states()["hera"]
    facts = parse_facts(recorded("converged-hera.txt", replace))
    plan = make_plan(pair, state, render_node(pair, state), facts)
    actions = [(a.service, a.action, a.replaced) for a in plan.services]
    return actions, services_script(pair, plan.services).text()


def test_a_new_haproxy_cfg_that_does_not_load_is_undone() -> None:
    changed = "{sha:/etc/haproxy/haproxy.cfg} 640 root haproxy"
    actions, script = _services([[changed, "0" * 64 + " 640 root haproxy"]])
    assert actions == [("haproxy", "reload", ("/etc/haproxy/haproxy.cfg",))]
    # The backup goes back; only when there is none (no earlier file) the reload stays owed.
    assert RESTORE in script
    assert script.index(RESTORE) < script.index(OWE)


def test_a_reload_owed_by_an_earlier_run_restores_nothing() -> None:
    actions, script = _services(
        [["@@lbdeploy probes\n", "@@lbdeploy pending\nhaproxy reload\n@@lbdeploy probes\n"]]
    )
    assert actions == [("haproxy", "reload", ())]
    assert RESTORE not in script and OWE in script


def test_a_change_to_default_haproxy_alone_restores_nothing() -> None:
    changed = "{sha:/etc/default/haproxy} 644 root root"
    actions, script = _services([[changed, "0" * 64 + " 644 root root"]])
    assert actions == [("haproxy", "reload", ("/etc/default/haproxy",))]
    assert RESTORE not in script and OWE in script


def test_a_graceful_restart_restores_nothing() -> None:
    script = _graceful_haproxy().text()
    assert RESTORE not in script and OWE in script
    assert haproxy_runtime.reload(restore=True).text().count(RESTORE) == 1


def test_a_new_cfg_over_a_reload_still_owed_restores_nothing() -> None:
    """The backup would be the earlier run's file, which never ran either."""
    changed = "{sha:/etc/haproxy/haproxy.cfg} 640 root haproxy"
    owed = ["@@lbdeploy probes\n", "@@lbdeploy pending\nhaproxy reload\n@@lbdeploy probes\n"]
    actions, script = _services([[changed, "0" * 64 + " 640 root haproxy"], owed])
    assert actions == [("haproxy", "reload", ())]
    assert RESTORE not in script and OWE in script
