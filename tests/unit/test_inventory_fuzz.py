"""No inventory file, however mangled, makes `lbdeploy validate` crash, hang or print a secret.

Seeds are every inventory under data/ (render, inventory_ok, inventory_errors) with their
literal secrets replaced by markers; mutations flip bytes, move lines and swap values for
YAML 1.1 traps, injections and network nonsense. Runs are derandomized so CI is stable;
LBDEPLOY_FUZZ_EXAMPLES=20000 runs a deeper, random campaign.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lbdeploy.cli.app import app

DATA = Path(__file__).parent / "data"
ENV = {"LB_VRRP_PASS": "Ev-7vQ2x", "LB_STATS_PASS": "Ev-stats-8Jm"}
LITERAL = {"auth_pass": "Lq7-vR2x", "password": "Pw-st9-Kq4z"}
SECRETS = [*ENV.values(), *LITERAL.values()]
_EXAMPLES = int(os.environ.get("LBDEPLOY_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=_EXAMPLES,
    deadline=2000,
    derandomize="LBDEPLOY_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seed(path: Path) -> bytes:
    text = path.read_text()
    for key, marker in LITERAL.items():
        text = re.sub(rf"\b({key}): [A-Za-z0-9-]+", rf"\1: {marker}", text)
    return text.encode()


VALID_SEEDS = [
    _seed(p) for f in ("render/*", "inventory_ok") for p in sorted(DATA.glob(f"{f}/*.yaml"))
]
SEEDS = [*VALID_SEEDS, *(_seed(p) for p in sorted(DATA.glob("inventory_errors/*.yaml")))]
VALUES = [
    *("yes", "No", "on", "OFF", "y", "~", "null", "", "010", "0x50", "0o17", "1:20", "1_000"),
    *(".inf", ".nan", "-1", "0", "65536", "9" * 30, "1e3", "2.5", "2001-02-30", "true"),
    *("!!binary aGk=", "!!int 12", "!!python/object:os.system x", "!foo x", "*nope", "&a [*a]"),
    *("[]", "{}", "[" * 40 + "]" * 40, "'backend x'", '"\\x62ackend x"', "'.if 1'", '"\\u2028"'),
    *('"\\ud800"', '"\\U00110000"', '"a\\0b"', '"a\\x85b"', "'[/x]'", "'[bold]x'", "lo", "eth1:0"),
    *("0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.1", "192.168.1.150", "192.168.1.1"),
    *("255.255.255.254", "0.0.0.0", "$X", '"${X}"', "a$b", "{env: LB_VRRP_PASS}", "{env: NOPE}"),
    *("{env: [x]}", "|\n  multi\n  line", "<<", "? x", "- x", "%x", "@x", "'é'", '"\\u200b"'),
    *("~nobody/x", "-oProxyCommand=x", "ñññññ", "&x {<<: *x}", "[*x]", "'\\'", "x\\"),
]
CHUNKS = [
    *(b"\x00", b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85", b"\r"),
    *(b"\n", b"\t", b" ", b"[", b"]", b"{", b"}", b": ", b",", b"&a ", b"*a", b"!", b"|", b">"),
    *(b"'", b'"', b"%", b"@", b"\\", b"#", b"- ", b"? ", b"<<: *a", b"$", b"---\n", b"\\x62"),
]


@pytest.fixture(scope="module")
def inventory_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "inventory.yaml"


def _validate(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["validate", str(path)], env=ENV, terminal_width=200)
    assert result.exit_code in (0, 2), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    for secret in SECRETS:
        assert secret not in result.output, secret


@st.composite
def byte_mutants(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "repeat"]))
        if action == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            chunk = draw(st.one_of(st.sampled_from(CHUNKS), st.binary(min_size=1, max_size=6)))
            data[at:at] = chunk
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 12))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 40))] * draw(st.integers(1, 30))
    return bytes(data)


@st.composite
def line_mutants(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(SEEDS)).split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent"]))
        if action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "duplicate":
            lines.insert(j, lines[i])
        elif action == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "indent":
            lines[i] = b"  " + lines[i]
        else:
            lines[i] = lines[i][2:]
    return b"\n".join(lines)


_VALUE = re.compile(rb"(?<=: )[^\s{}\[\],#]+")


@st.composite
def value_mutants(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(VALID_SEEDS) | st.sampled_from(SEEDS))
    spots = list(_VALUE.finditer(data))
    for _ in range(draw(st.integers(1, 3))):
        spot = draw(st.sampled_from(spots))
        text = st.text(max_size=12).map(json.dumps)  # a JSON string is a YAML "..." scalar
        value = draw(st.sampled_from(VALUES) | text).encode()
        data = data[: spot.start()] + value + data[spot.end() :]
        spots = list(_VALUE.finditer(data)) or spots
    return data


_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=16),
    st.sampled_from(VALUES),
)
_JUNK = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _or_junk(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a plausible value, so that some inventories pass and get printed."""
    return st.one_of(*[valid] * 20, _JUNK)


_NAME = st.one_of(st.sampled_from(["hera", "afrodita", "yes", "010", "null", "n-1"]), _LEAF)
_HOST = st.sampled_from(["192.168.1.110", "192.168.1.111", "192.168.1.112", "10.0.0.1"])
_VIP = st.sampled_from(["192.168.1.150", "192.168.1.151", "192.168.1.110", "192.168.1.1"])
_SERVER = st.fixed_dictionaries(
    {
        "name": _or_junk(_NAME),
        "address": _or_junk(st.sampled_from(["192.168.1.21", "192.168.1.150", "app.internal"])),
        "port": _or_junk(st.sampled_from([80, 8080, 443])),
    },
    optional={"check": _LEAF, "weight": _LEAF},
)
_SERVICE = st.fixed_dictionaries(
    {
        "name": _or_junk(_NAME),
        "port": _or_junk(st.sampled_from([80, 443, 8080])),
        "servers": _or_junk(st.lists(_SERVER, min_size=1, max_size=3)),
    },
    optional={
        "options": st.lists(st.one_of(st.text(max_size=30), st.sampled_from(VALUES)), max_size=3),
        "mode": _or_junk(st.sampled_from(["http", "tcp"])),
        "health_check": _or_junk(st.sampled_from(["/", "/healthz?x=1"])),
    },
)
_GENERATED = st.fixed_dictionaries(
    {
        "nodes": _or_junk(
            st.dictionaries(
                _or_junk(st.sampled_from(["hera", "afrodita", "yes", "010", "null", "n-1"]))
                .filter(lambda k: isinstance(k, str | int))
                .map(str),
                _or_junk(st.fixed_dictionaries({"host": _or_junk(_HOST)})),
                min_size=1,
                max_size=4,
            )
        ),
        "interface": _or_junk(
            st.fixed_dictionaries(
                {
                    "name": _or_junk(st.sampled_from(["eth1", "bond0.7", "lo", "eth1:0"])),
                    "netmask": _or_junk(
                        st.sampled_from(["255.255.255.0", "255.255.0.0", "0.0.0.0"])
                    ),
                }
            )
        ),
        "vrrp": _or_junk(
            st.fixed_dictionaries(
                {"virtual_router_id": _or_junk(st.integers(0, 256)), "vip": _or_junk(_VIP)},
                optional={
                    "auth_pass": st.sampled_from([LITERAL["auth_pass"], "a$b", 12345]),
                    "nopreempt": _LEAF,
                    "master": _NAME,
                },
            )
        ),
    },
    optional={
        "ssh": st.fixed_dictionaries({"user": _or_junk(st.text(max_size=8))}),
        "stats": _or_junk(
            st.fixed_dictionaries(
                {"user": _or_junk(st.text(max_size=8)), "password": st.just(LITERAL["password"])}
            )
        ),
        "services": _or_junk(st.lists(_SERVICE, max_size=3)),
        "haproxy": _or_junk(st.fixed_dictionaries({"options": st.lists(st.text(max_size=30))})),
    },
)


@st.composite
def generated(draw: st.DrawFn) -> bytes:
    flow = draw(st.sampled_from([None, True, False]))
    return yaml.safe_dump(draw(_GENERATED), default_flow_style=flow, allow_unicode=True).encode()


@FUZZ
@given(data=byte_mutants())
def test_byte_mutants_never_crash_hang_or_leak(inventory_path: Path, data: bytes) -> None:
    _validate(inventory_path, data)


@FUZZ
@given(data=line_mutants())
def test_line_mutants_never_crash_hang_or_leak(inventory_path: Path, data: bytes) -> None:
    _validate(inventory_path, data)


@FUZZ
@given(data=value_mutants())
def test_value_mutants_never_crash_hang_or_leak(inventory_path: Path, data: bytes) -> None:
    _validate(inventory_path, data)


@FUZZ
@given(data=generated())
def test_generated_inventories_never_crash_hang_or_leak(inventory_path: Path, data: bytes) -> None:
    _validate(inventory_path, data)


def test_seeds_hold_the_secret_markers() -> None:
    seeds = b"".join(SEEDS)
    assert all(marker.encode() in seeds for marker in LITERAL.values())
    assert len(SEEDS) > 100
