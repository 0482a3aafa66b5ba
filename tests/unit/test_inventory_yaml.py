"""The inventory's YAML: values mean what was written, any file costs little, bytes are UTF-8.

Refusals with their exact place are cases under data/inventory_errors/ (yaml_*, port_*,
...); here are the files that must load (data/inventory_ok/, each headed by `# holds:`
expressions about the loaded `inv`), what a bomb may cost, and files that are not UTF-8.
"""

from __future__ import annotations

import codecs
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbdeploy.cli.app import app
from lbdeploy.errors import InventoryError
from lbdeploy.exitcodes import ExitCode
from lbdeploy.inventory import load_inventory
from lbdeploy.inventory.load import LIMITS

DATA = Path(__file__).parent / "data"
OK_CASES = sorted((DATA / "inventory_ok").glob("*.yaml"))
BOMBS = sorted(
    p
    for p in (DATA / "inventory_errors").glob("yaml_*.yaml")
    if any(word in p.stem for word in ("bomb", "laughs", "deep", "self", "many"))
)
CLASSIC = (DATA / "render" / "classic" / "inventory.yaml").read_text()
ENV = {"LB_VRRP_PASS": "vrrp-pw", "LB_STATS_PASS": "stats-pw"}


def _holds(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8-sig").splitlines()
    return [line.removeprefix("# holds: ") for line in lines if line.startswith("# holds: ")]


@pytest.mark.parametrize("case", OK_CASES, ids=[c.stem for c in OK_CASES])
def test_values_keep_what_the_user_wrote(case: Path) -> None:
    inv = load_inventory(case, env=ENV)
    assert _holds(case)
    for expression in _holds(case):
        assert eval(expression, {"inv": inv}), expression


@pytest.mark.parametrize("case", BOMBS, ids=[c.stem for c in BOMBS])
def test_yaml_bomb_is_refused_fast_and_small(case: Path) -> None:
    """Small is measured (peak memory), fast follows from it: nothing is expanded. No wall
    clock here: a loaded machine must not fail the suite."""
    tracemalloc.start()
    try:
        with pytest.raises(InventoryError) as raised:
            load_inventory(case, env={})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "limit" in str(raised.value) or "contains it" in str(raised.value)
    assert peak < 4_000_000, f"{peak} bytes"


def test_bombs_cover_every_limit() -> None:
    messages = " ".join(_first_problem(case) for case in BOMBS)
    for limit in ("alias limit", "node limit", "text limit", "depth limit", "contains it"):
        assert limit in messages


def _first_problem(case: Path) -> str:
    with pytest.raises(InventoryError) as raised:
        load_inventory(case, env={})
    return str(raised.value.problems[0])


def _encoded(text: str, codec: str, bom: bytes = b"") -> bytes:
    return bom + text.encode(codec)


_LATIN1 = CLASSIC.replace("hera is", "héra is").encode("latin-1")
BYTES_CASES = {
    "utf16_le_bom": (
        _encoded(CLASSIC, "utf-16-le", codecs.BOM_UTF16_LE),
        "1:1: not UTF-8: the file starts with a UTF-16 byte order mark; save it as UTF-8",
    ),
    "utf16_be_bom": (
        _encoded(CLASSIC, "utf-16-be", codecs.BOM_UTF16_BE),
        "1:1: not UTF-8: the file starts with a UTF-16 byte order mark; save it as UTF-8",
    ),
    "utf32_le_bom": (
        _encoded(CLASSIC, "utf-32-le", codecs.BOM_UTF32_LE),
        "1:1: not UTF-8: the file starts with a UTF-32 byte order mark; save it as UTF-8",
    ),
    "utf16_le_without_bom": (
        _encoded(CLASSIC, "utf-16-le"),
        "1:1: not UTF-8: every other byte is NUL, so this looks like UTF-16",
    ),
    "utf16_be_without_bom": (
        _encoded(CLASSIC, "utf-16-be"),
        "1:1: not UTF-8: every other byte is NUL, so this looks like UTF-16",
    ),
    "latin1_in_a_comment": (
        _LATIN1,
        "1:22: not UTF-8: byte 0xe9 (invalid continuation byte); save the file as UTF-8",
    ),
    "stray_continuation_byte": (
        CLASSIC.encode().replace(b"eth1", b"eth\x801"),
        "10:22: not UTF-8: byte 0x80 (invalid start byte); save the file as UTF-8",
    ),
    "overlong_slash": (
        CLASSIC.encode().replace(b"/stats", b"\xc0\xafstats"),
        "15:24: not UTF-8: byte 0xc0 (invalid start byte); save the file as UTF-8",
    ),
    "cut_in_a_character": (
        CLASSIC.encode() + b"# \xe2\x82",
        "22:3: not UTF-8: byte 0xe2 (unexpected end of data); save the file as UTF-8",
    ),
    "nul_byte": (
        CLASSIC.encode().replace(b"hera:", b"he\x00ra:"),
        "8:5: not UTF-8 text: a NUL byte",
    ),
    "larger_than_the_size_limit": (
        CLASSIC.encode() + b"#" * LIMITS.max_bytes,
        "22:129970: the file is larger than 131072 bytes, the size limit of an inventory",
    ),
}


@pytest.mark.parametrize("case", list(BYTES_CASES))
def test_file_that_is_not_utf8_is_located(case: str, tmp_path: Path) -> None:
    data, expected = BYTES_CASES[case]
    path = tmp_path / "inventory.yaml"
    path.write_bytes(data)
    with pytest.raises(InventoryError) as raised:
        load_inventory(path, env=ENV)
    assert [str(p) for p in raised.value.problems] == [f"{path}:{expected}"]
    assert raised.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize("case", ["utf16_le_bom", "latin1_in_a_comment", "nul_byte"])
def test_cli_exits_2_for_a_file_that_is_not_utf8(case: str, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(BYTES_CASES[case][0])
    result = CliRunner().invoke(app, ["validate", str(path)], env=ENV, terminal_width=500)
    assert result.exit_code == 2, result.output
    assert f"{path}:{BYTES_CASES[case][1]}" in result.output


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    with path.open("wb") as handle:
        handle.truncate(2**32)  # sparse: 4 GiB of NUL bytes
    too_large = r":1:131073: the file is larger than 131072 bytes"
    tracemalloc.start()
    try:
        with pytest.raises(InventoryError, match=too_large):
            load_inventory(path, env=ENV)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMITS.max_bytes, f"{peak} bytes: more than the limit was read"


def test_a_large_real_inventory_fits_the_limits(tmp_path: Path) -> None:
    """101 nodes, 50 services of 20 servers sharing one anchor: inside every limit."""
    nodes = "".join(f"  n{i}: {{host: 10.0.0.{i + 1}}}\n" for i in range(101))
    first = "      - &srv {name: w0, address: 10.1.0.1, port: 8080, weight: 10}\n"
    servers = [
        f"      - {{<<: *srv, name: w{j}, address: 10.1.{i}.{j + 1}}}\n"
        for i in range(50)
        for j in range(20)
    ]
    services = "".join(
        f"  - name: s{i}\n    port: {1000 + i}\n    servers:\n"
        + (first if i == 0 else servers[i * 20])
        + "".join(servers[i * 20 + 1 : i * 20 + 20])
        for i in range(50)
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(
        f"nodes:\n{nodes}interface: {{name: eth1, netmask: 255.255.0.0}}\n"
        f"vrrp: {{virtual_router_id: 50, vip: 10.0.9.9}}\nservices:\n{services}"
    )
    assert path.stat().st_size < LIMITS.max_bytes
    inv = load_inventory(path, env={})
    assert len(inv.nodes) == 101 and sum(len(s.servers) for s in inv.services) == 1000
    assert {s.weight for s in inv.services[-1].servers} == {10}
