"""Rendering against golden files, reviewed by hand once; a regression is one diff.

Set LBDEPLOY_UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbdeploy.components import haproxy, keepalived
from lbdeploy.components.haproxy import HAPROXY_CFG
from lbdeploy.components.keepalived import KEEPALIVED_CONF, keepalived_test_copy
from lbdeploy.core.desired import derive
from lbdeploy.core.files import masked_diff
from lbdeploy.core.render import render_node
from lbdeploy.inventory import load_inventory

RENDER = Path(__file__).parent / "data" / "render"
CASES = sorted(p for p in RENDER.iterdir() if p.is_dir())
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw", "LB_BGP_PASS": "bgp-md5-pw"}


def rendered(case: Path) -> dict[Path, str]:
    """Every file of every node in the case, keyed by expected/<node>/<path>."""
    inv = load_inventory(case / "inventory.yaml", ENV)
    out = {}
    desired = derive(inv, case)
    for state in desired.nodes:
        # A fixed source for the exporters' random bcrypt salt: goldens stay byte-identical.
        for spec in render_node(desired.pair, state, entropy=bytes).values():
            out[Path(state.name) / spec.path.lstrip("/")] = spec.content
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rendered_files_match_golden(case: Path) -> None:
    files = rendered(case)
    expected_dir = case / "expected"
    if os.environ.get("LBDEPLOY_UPDATE_GOLDEN"):
        for rel, content in files.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(content)
    on_disk = {p.relative_to(expected_dir) for p in expected_dir.rglob("*") if p.is_file()}
    assert on_disk == set(files), "the set of rendered files changed"
    for rel, content in files.items():
        assert content == (expected_dir / rel).read_text(), f"{rel} differs from golden"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_file_ends_with_newline_and_has_no_template_residue(case: Path) -> None:
    for rel, content in rendered(case).items():
        assert content.endswith("\n"), rel
        assert not content.endswith("\n\n"), rel
        for residue in ("{{", "}}", "{%", "%}", "None", "***"):
            assert residue not in content, f"{rel} holds {residue!r}"


def test_config_files_are_not_world_readable() -> None:
    inv = load_inventory(RENDER / "classic" / "inventory.yaml", ENV)
    desired = derive(inv, RENDER)
    specs = render_node(desired.pair, desired.nodes[0])
    assert specs[KEEPALIVED_CONF].mode == 0o640
    assert specs[HAPROXY_CFG].mode & 0o007 == 0
    assert specs[KEEPALIVED_CONF].redact and specs[HAPROXY_CFG].redact


def test_keepalived_test_copy_changes_only_script_user() -> None:
    inv = load_inventory(RENDER / "classic" / "inventory.yaml", ENV)
    desired = derive(inv, RENDER)
    conf = render_node(desired.pair, desired.nodes[0])[KEEPALIVED_CONF].content
    copy = keepalived_test_copy(conf)
    changed = [(a, b) for a, b in zip(conf.splitlines(), copy.splitlines(), strict=True) if a != b]
    assert changed == [("    script_user keepalived_script", "    script_user root")]


def test_masked_file_shows_no_password() -> None:
    inv = load_inventory(RENDER / "classic" / "inventory.yaml", ENV)
    desired = derive(inv, RENDER)
    files = render_node(desired.pair, desired.nodes[0])
    for spec in files.values():
        masked = spec.shown()
        assert "vrrp-pw" not in masked and "stats-pw" not in masked
    cfg = files[HAPROXY_CFG].shown()
    assert "stats auth admin:***" in cfg


def test_masked_diff_hides_passwords_and_says_when_only_they_differ() -> None:
    old = "vrrp_instance VI_1 {\n    auth_pass old-pw\n    advert_int 1\n}\n"
    new = "vrrp_instance VI_1 {\n    auth_pass new-pw\n    advert_int 2\n}\n"
    auth = (keepalived.SECRET_LINES,)  # each component says where its daemon keeps one
    text = masked_diff("hera:/etc/keepalived/keepalived.conf", old, new, (), auth)
    assert "-    advert_int 1\n+    advert_int 2\n" in text
    assert "old-pw" not in text and "new-pw" not in text
    only_pw = masked_diff("hera:x", old, old.replace("old-pw", "new-pw"), (), auth)
    assert only_pw == "--- hera:x: only a password differs (not shown)\n"
    stats = masked_diff(
        "n:h",
        "    stats auth admin:a\n",
        "    stats auth admin:b\n    x\n",
        (),
        (haproxy.SECRET_LINES,),
    )
    assert "admin:a" not in stats and "admin:b" not in stats and "+    x" in stats


def test_templates_ship_inside_the_package() -> None:
    """lbdeploy/templates links to the top-level templates/, so wheels carry them."""
    from importlib import resources

    shipped = {p.name for p in resources.files("lbdeploy").joinpath("templates").iterdir()}
    top = {p.name for p in (Path(__file__).parents[2] / "templates").glob("*.j2")}
    assert top and top <= shipped
