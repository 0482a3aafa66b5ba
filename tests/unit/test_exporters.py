"""The exporters lbdeploy installs only when asked (`stats.exporters`): each on the node's
own addresses, behind the stats credentials, with a web config whose random salt a re-run keeps."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import bcrypt
import pytest
import yaml

from lbdeploy.components.exporters import (
    FRR_EXPORTER,
    NODE_EXPORTER,
    check_web_config,
    web_config,
)
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.facts import Facts, parse_facts
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.plan import find_drift
from lbdeploy.core.render import managed_paths, render_node
from lbdeploy.core.steps import upload_if_differs
from lbdeploy.inventory.load import parse_inventory
from lbdeploy.scripts.script import SECTION
from lbdeploy.scripts.shell import Secret

RENDER = Path(__file__).parent / "data" / "render"
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw", "LB_BGP_PASS": "bgp-md5-pw"}
EXPORTER_PATHS = {p for e in (NODE_EXPORTER, FRR_EXPORTER) for p in (e.defaults, e.web_config)}


def _desired(case: str, edit: tuple[str, str] = ("", ""), extra: str = "") -> Desired:
    text = extra + (RENDER / case / "inventory.yaml").read_text().replace(*edit)
    return derive(parse_inventory(text, "inventory.yaml", ENV, base=RENDER / case), RENDER / case)


def _files(desired: Desired, node: int = 0) -> dict[str, ManagedFile]:
    return render_node(desired.pair, desired.nodes[node])


def test_each_exporter_listens_on_the_nodes_own_addresses_only() -> None:
    stats = "password: {env: LB_STATS_PASS}}"
    desired = _desired("dualstack", (stats, stats.replace("}}", "}, exporters: true}")))
    files = _files(desired)
    args = files[NODE_EXPORTER.defaults].content.splitlines()[-1]
    assert args == (
        'ARGS="--web.listen-address=192.168.1.110:9100'
        " --web.listen-address=[2001:db8:1::110]:9100"
        f' --web.config.file={NODE_EXPORTER.web_config}"'
    )
    assert FRR_EXPORTER.defaults not in files  # no FRR on a VRRP-only pair
    # The same addresses as the stats page binds.
    binds = [
        line.split()[1]
        for line in files["/etc/haproxy/haproxy.cfg"].content.splitlines()
        if line.strip().startswith("bind") and ":8404" in line
    ]
    assert [b.replace(":8404", ":9100") for b in binds] == [
        "192.168.1.110:9100",
        "[2001:db8:1::110]:9100",
    ]


def test_web_configs_are_secret_readable_by_the_exporters_group_only() -> None:
    files = _files(_desired("exporters"))
    for exporter, group in ((NODE_EXPORTER, "prometheus"), (FRR_EXPORTER, "frrvty")):
        web = files[exporter.web_config]
        assert (web.mode, web.owner, web.group, web.secret) == (0o640, "root", group, True)
        assert web.on_change is None  # exporter-toolkit reads it again at every request
        defaults = files[exporter.defaults]
        assert defaults.on_change is not None and defaults.on_change.action == "restart"
        assert "stats-pw" not in web.content and "stats-pw" not in web.shown()
        assert "$2b$" not in web.shown() and "$2b$" not in web.diff("hera:w", None, None)


def test_the_hash_takes_the_stats_password_and_nothing_else() -> None:
    files = _files(_desired("exporters"))
    users = yaml.safe_load(files[NODE_EXPORTER.web_config].content)["basic_auth_users"]
    assert set(users) == {"admin"}
    assert bcrypt.checkpw(b"stats-pw", users["admin"].encode())
    assert not bcrypt.checkpw(b"stats-pw2", users["admin"].encode())
    with pytest.raises(ValueError, match="does not take"):
        check_web_config(files[NODE_EXPORTER.web_config].content, "admin", Secret("other"))
    with pytest.raises(ValueError, match="alone"):
        check_web_config("basic_auth_users: {}\n", "admin", Secret("stats-pw"))


def test_each_render_draws_a_new_salt_for_each_node_and_exporter() -> None:
    desired = _desired("exporters")
    hera, afrodita, again = _files(desired, 0), _files(desired, 1), _files(desired, 0)
    hashes = {
        hera[NODE_EXPORTER.web_config].content,
        hera[FRR_EXPORTER.web_config].content,
        afrodita[NODE_EXPORTER.web_config].content,
        afrodita[FRR_EXPORTER.web_config].content,
        again[NODE_EXPORTER.web_config].content,
    }
    assert len(hashes) == 5
    fixed = render_node(desired.pair, desired.nodes[0], entropy=bytes)
    assert fixed[NODE_EXPORTER.web_config].content == web_config(
        "admin", Secret("stats-pw"), bytes(16)
    )


def _live(web: ManagedFile, text: str, section: str | None = None) -> Facts:
    """A node whose web config holds `text` (the facts' output, parsed back)."""
    sha = hashlib.sha256(text.encode()).hexdigest()
    output = (
        f"{SECTION}files\n{sha} 640 root {web.group} {web.path}\n"
        f"{SECTION}live-text {web.path}\n{section if section is not None else text}"
    )
    return parse_facts(output)


def _web(password: str = "stats-pw") -> ManagedFile:
    desired = _desired("exporters", ("stats-pw", password)) if password != "stats-pw" else None
    return _files(desired or _desired("exporters"))[NODE_EXPORTER.web_config]


def test_replan_against_a_live_web_config_with_another_salt_changes_nothing() -> None:
    web = _web()
    live = web_config("admin", Secret("stats-pw"), b"another salt 16b")
    assert live != web.content
    facts = _live(web, live)
    assert upload_if_differs(web, facts) is None
    # lbdeploy wrote that file last; an edit since is drift, another salt is not.
    applied = {web.path: facts.files[web.path].sha256}
    assert find_drift({web.path: web}, replace(facts, applied=applied)) == ()
    edited = _live(web, live + "# edited\n")
    assert find_drift({web.path: web}, replace(edited, applied=applied)) == (web.path,)


def test_a_new_password_or_an_edit_uploads_the_web_config() -> None:
    web = _web()
    other_password = web_config("admin", Secret("old-pw"), b"another salt 16b")
    extra_user = web_config("admin", Secret("stats-pw"), b"another salt 16b") + '  "x": "y"\n'
    cost_4 = web_config("admin", Secret("stats-pw"), b"another salt 16b").replace("$10$", "$04$")
    for live in (other_password, extra_user, cost_4, "basic_auth_users: [\n"):
        upload = upload_if_differs(web, _live(web, live))
        assert upload is not None and upload.content_changed


def test_live_text_that_is_not_the_hashed_file_is_not_trusted() -> None:
    web = _web()
    live = web_config("admin", Secret("stats-pw"), b"another salt 16b")
    # The facts' sha256 is of `live`, the text read is something else (a race, a cut).
    upload = upload_if_differs(web, _live(web, live, section=live.replace("admin", "root")))
    assert upload is not None
    assert upload_if_differs(web, parse_facts(f"{SECTION}live-text {web.path}\n{live}")) is not None


def test_the_live_hash_never_reaches_a_plan_or_diff() -> None:
    web = _web()
    live = web_config("admin", Secret("old-pw"), b"another salt 16b")
    live_hash = live.split('"')[-2]
    facts = _live(web, live)
    upload = upload_if_differs(web, facts)
    assert upload is not None
    shown = [repr(upload), web.shown(), web.diff("hera:w", live, facts.files[web.path].sha256)]
    for output in shown:
        assert live_hash not in output and "$2b$" not in output


def test_the_facts_read_each_web_config() -> None:
    from lbdeploy.components import facts_request
    from lbdeploy.core.facts import facts_script

    script = facts_script(facts_request(_desired("exporters").pair), None).text()
    for exporter in (NODE_EXPORTER, FRR_EXPORTER):
        assert f"live-text {exporter.web_config}" in script


@pytest.mark.parametrize("case", ["exporters", "mixed", "lab", "classic"])
def test_without_exporters_no_package_unit_or_file(case: str) -> None:
    from lbdeploy.components import facts_request, units

    desired = _desired(case, ("exporters: true", "exporters: false"))
    request = facts_request(desired.pair)
    assert not {NODE_EXPORTER.package, FRR_EXPORTER.package} & set(request.packages)
    assert not {NODE_EXPORTER.package, FRR_EXPORTER.package} & set(units(desired.pair))
    assert not EXPORTER_PATHS & set(managed_paths(desired.pair))
    assert not EXPORTER_PATHS & set(_files(desired))


def test_with_exporters_the_units_are_managed() -> None:
    from lbdeploy.components import facts_request, units

    desired = _desired("exporters")
    assert {NODE_EXPORTER.package, FRR_EXPORTER.package} <= set(units(desired.pair))
    assert set(facts_request(desired.pair).paths) >= EXPORTER_PATHS
