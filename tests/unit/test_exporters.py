"""The exporters lbdeploy installs only when asked (`stats.exporters`): each on the node's
own addresses, behind the stats credentials, with a web config that re-renders the same."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
import yaml

from lbdeploy.components.exporters import (
    FRR_EXPORTER,
    NODE_EXPORTER,
    check_web_config,
    salt_of,
    web_config,
)
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.files import ManagedFile
from lbdeploy.core.render import managed_paths, render_node
from lbdeploy.inventory.load import parse_inventory
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


def test_rerender_without_edits_is_byte_identical() -> None:
    first, again = _files(_desired("exporters")), _files(_desired("exporters"))
    for path in EXPORTER_PATHS:
        assert first[path].content == again[path].content
        assert first[path].sha256 == again[path].sha256


def test_hashes_differ_per_node_and_exporter_and_follow_the_password() -> None:
    desired = _desired("exporters")
    hera, afrodita = _files(desired, 0), _files(desired, 1)
    hashes = {
        hera[NODE_EXPORTER.web_config].content,
        hera[FRR_EXPORTER.web_config].content,
        afrodita[NODE_EXPORTER.web_config].content,
        afrodita[FRR_EXPORTER.web_config].content,
    }
    assert len(hashes) == 4
    salt = salt_of("hera", NODE_EXPORTER)
    assert web_config("admin", Secret("a"), salt) != web_config("admin", Secret("b"), salt)
    assert web_config("admin", Secret("a"), salt) == web_config("admin", Secret("a"), salt)


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
